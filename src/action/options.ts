/**
 * Tuning numbers of the action's own steps. Each is defined here once, with its default and
 * why; the modules that use them import them from here.
 */

// --- from action/start-daemon.ts ---

/** How long the main step waits for the remote to answer before going on without it. */
export const REMOTE_PROBE_MS = 5_000;

// --- from action/post-step.ts ---

/**
 * How long a daemon that may be stuck on a hung remote gets after SIGTERM. Why: casd waits
 * for its in-flight calls before exiting, and a stalled remote would add the full 15 s
 * shutdown wait to the post step; its store is safe to kill (objects land by rename).
 */
export const STUCK_DAEMON_TERM_MS = 2_000;

/**
 * Refs whose trees are the likeliest bases of this save: the key, the entry restored, then the
 * pointers of the key's prefixes, longest first (the newest sibling entries). Each costs a
 * lookup before the push, so a few.
 */
export const MAX_PRESENT_TREES = 4;
