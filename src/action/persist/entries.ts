import { restoreCache, saveCache } from '@actions/cache';
import { describeError } from '../../errors.js';
import { isWriteDenied } from './cache-mode.js';
import { withProblems } from './capture.js';
import type { Session } from './session.js';

export type SaveOutcome =
  | { status: 'saved' }
  | { status: 'exists' }
  | { status: 'failed'; detail: string }
  /** The service refused the write: this run's cache token is read-only. */
  | { status: 'denied'; detail: string };
export type RestoreOutcome =
  { status: 'hit'; key: string } | { status: 'miss' } | { status: 'failed'; detail: string };

/** Errors that retrying cannot fix (a bad key, a bad path). */
function permanent(err: unknown): boolean {
  return err instanceof Error && err.name === 'ValidationError';
}

/**
 * Looks `key` up without downloading. True on an exact hit, false on a miss, undefined when
 * the service could not answer.
 */
export async function entryExists(
  session: Session,
  paths: string[],
  key: string,
): Promise<boolean | undefined> {
  try {
    const { value, problems } = await withProblems(() =>
      session.beforeDeadline(`looking up ${key}`, restoreCache(paths, key, [], { lookupOnly: true })),
    );
    if (value === key) return true;
    return problems.length > 0 ? undefined : false;
  } catch {
    return undefined;
  }
}

/**
 * Saves `paths` under `key`, retrying a few times. A key that already exists (entries are
 * immutable; content-keyed packs make that normal) is reported as `exists`, not a failure.
 */
export async function saveEntry(session: Session, paths: string[], key: string): Promise<SaveOutcome> {
  let detail = 'the cache service did not accept the entry';
  for (let attempt = 1; attempt <= session.attempts; attempt++) {
    if (attempt > 1) await session.backoff(attempt - 1);
    if (session.remainingMs() <= 0) return { status: 'failed', detail: `no time left (${detail})` };
    try {
      // The library's own warning for a denied write is held back: the caller says it once.
      const { value: id, problems } = await withProblems(
        () => session.beforeDeadline(`saving ${key}`, saveCache(paths, key)),
        isWriteDenied,
      );
      if (id !== -1) return { status: 'saved' };
      if (problems.length > 0) detail = problems.join('; ');
    } catch (err) {
      detail = describeError(err);
      if (permanent(err)) break;
    }
    if (isWriteDenied(detail)) return { status: 'denied', detail };
    // -1 is also what a reserve conflict gives: the entry may exist (another job made it).
    if (await entryExists(session, paths, key)) return { status: 'exists' };
    session.logger.debug(`saving ${key}, attempt ${attempt} of ${session.attempts}: ${detail}`);
  }
  return { status: 'failed', detail };
}

/**
 * Restores `paths` from `key` or the newest entry matching a restore-key prefix, retrying a
 * few times when the service fails (a plain miss is not retried).
 */
export async function restoreEntry(
  session: Session,
  paths: string[],
  key: string,
  restoreKeys: string[],
): Promise<RestoreOutcome> {
  let detail = 'the cache service failed';
  for (let attempt = 1; attempt <= session.attempts; attempt++) {
    if (attempt > 1) await session.backoff(attempt - 1);
    if (session.remainingMs() <= 0) return { status: 'failed', detail: `no time left (${detail})` };
    try {
      const { value, problems } = await withProblems(() =>
        session.beforeDeadline(`restoring ${key}`, restoreCache(paths, key, restoreKeys)),
      );
      if (value !== undefined) return { status: 'hit', key: value };
      if (problems.length === 0) return { status: 'miss' };
      detail = problems.join('; ');
    } catch (err) {
      detail = describeError(err);
      if (permanent(err)) break;
    }
    session.logger.debug(`restoring ${key}, attempt ${attempt} of ${session.attempts}: ${detail}`);
  }
  return { status: 'failed', detail };
}
