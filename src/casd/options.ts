/**
 * Tuning numbers of the daemon's life: readiness, shutdown, log files, the Bazel bridge.
 * Each is defined here once, with its default and why; the modules that use them import them
 * from here.
 */

// --- Readiness (daemon.ts) ---

/**
 * Give up when casd does not answer within this long from start: a cold start with a big store
 * takes a few seconds, 15 s leaves room on a slow runner.
 */
export const DEFAULT_READY_TIMEOUT_MS = 15_000;
/**
 * Wait between readiness probes: casd usually answers within tens of ms, so a short poll saves
 * start-up time.
 */
export const READY_POLL_MS = 10;
/**
 * Longest single readiness probe (GetCapabilities), so a socket that accepts but never answers is
 * probed again.
 */
export const READY_PROBE_MAX_MS = 2_000;

// --- Shutdown (daemon.ts) ---

/**
 * How a daemon is stopped by default: a quiet 0.5 s after SIGTERM (casd usually exits in
 * it), then 15 s announced as "Terminating buildbox-casd" before SIGKILL, then 15 s for the
 * kill to be seen.
 */
export const DEFAULT_STOP = {
  termGraceMs: 500,
  termTimeoutMs: 15_000,
  killTimeoutMs: 15_000,
} as const;
/**
 * How a daemon that failed to start is stopped: briefly, as the error already says what went wrong.
 */
export const FAILED_START_STOP = {
  termGraceMs: 500,
  termTimeoutMs: 2_000,
  killTimeoutMs: 5_000,
} as const;

// --- Log files (logs.ts) ---

/**
 * How many daemon log files a cache directory keeps: enough for the last few runs, bounded on disk.
 */
export const MAX_LOG_FILES = 10;
/**
 * Lines of a log quoted in an error by default: the end of the story without flooding the message.
 */
export const LOG_TAIL_LINES = 20;
/** Bytes read from the end of a log to find its last lines, so a huge log is never read whole. */
export const LOG_TAIL_BYTES = 64 * 1024;

// --- Bazel bridge (bridge-process.ts, bazel-bridge.ts) ---

/**
 * How long a new bridge process may take to say it listens: a Node start is well under a second, 10
 * s allows a loaded runner.
 */
export const BRIDGE_READY_TIMEOUT_MS = 10_000;
/**
 * How often the bridge process checks that casd still runs: a bridge left behind for a quarter
 * second is harmless.
 */
export const BRIDGE_WATCH_POLL_MS = 250;
/**
 * HTTP/2 stream window: big enough that a ByteStream transfer is not held to 64 KiB a round trip.
 */
export const BRIDGE_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/** Connection window, shared by Bazel's many concurrent calls on one connection. */
export const BRIDGE_CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;

// --- from casd/usage.ts ---

/** Object-store subdirectories (`cas/objects/<2 hex>`) read at once by objectStoreUsage. */
export const USAGE_SCAN_DIR_CONCURRENCY = 8;

/** Object files stat'ed at once within one subdirectory. */
export const USAGE_SCAN_FILE_CONCURRENCY = 32;

// --- from casd/process.ts ---

export const ATTACHED_POLL_MS = 20;
