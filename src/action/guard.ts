import * as core from '@actions/core';
import { describeError, isCasError } from '../errors.js';

/** Where a step collects the cache trouble it went on after. */
export interface Trouble {
  warnings: string[];
  /** Set when a phase hit its deadline (a remote may be stuck). */
  timedOut?: boolean;
}

/**
 * Runs a phase whose failure is cache trouble: a warning (kept for the summary), and the step
 * goes on with undefined. With `rethrow` the error stands instead (fail-on-cache-error in the
 * main step, where nothing needs cleaning up yet).
 */
export async function guarded<T>(
  trouble: Trouble,
  what: string,
  body: () => Promise<T>,
  rethrow = false,
): Promise<T | undefined> {
  try {
    return await body();
  } catch (err) {
    if (rethrow) throw err;
    if (isCasError(err, 'timeout')) trouble.timedOut = true;
    const message = `${what}: ${describeError(err)}`;
    trouble.warnings.push(message);
    core.warning(message);
    return undefined;
  }
}
