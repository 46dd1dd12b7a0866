/**
 * The Actions cache's write permission for this run. Since mid-2026 GitHub gives untrusted
 * triggers read-only cache tokens and tells the job through ACTIONS_CACHE_MODE (`read`,
 * `write`, `write-only` or `none`; unset or unknown means permissive, as in @actions/cache).
 * A service that refuses a write anyway answers with a message with a stable prefix.
 */

const CACHE_MODES = ['none', 'read', 'write', 'write-only'];

/** The prefix of the service's answer to a write with a read-only token. */
export const WRITE_DENIED_PREFIX = 'cache write denied:';

/** Why this run cannot write to the Actions cache, or undefined when it may. */
export function readOnlyReason(env: NodeJS.ProcessEnv): string | undefined {
  const mode = (env.ACTIONS_CACHE_MODE ?? '').trim().toLowerCase();
  if (!CACHE_MODES.includes(mode) || mode === 'write' || mode === 'write-only') return undefined;
  return `ACTIONS_CACHE_MODE is ${mode}`;
}

/** True when a failure text is the service refusing a write for a read-only token. */
export function isWriteDenied(text: string): boolean {
  return text.includes(WRITE_DENIED_PREFIX);
}
