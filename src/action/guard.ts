import * as core from '@actions/core';
import { describeError, isCasError } from '../errors.js';

/** Where a step collects the cache trouble it went on after. */
export interface Trouble {
  warnings: string[];
  /** Set when a phase hit its deadline (a remote may be stuck). */
  timedOut?: boolean;
}

/**
 * How a step treats cache trouble (the fail-on-cache-error input): every warn-or-throw
 * decision of the action is made by the functions below from this one value.
 */
export interface TroublePolicy {
  /** fail-on-cache-error: cache trouble fails the step. */
  readonly failOnCacheError: boolean;
  /**
   * `main` throws at once (nothing needs cleaning up yet); `post` goes on with warnings and
   * fails once it has cleaned up (failIfTroubled).
   */
  readonly step: 'main' | 'post';
}

/** The policy of `step` for the parsed fail-on-cache-error input. */
export function troublePolicy(config: { failOnCacheError: boolean }, step: 'main' | 'post'): TroublePolicy {
  return { failOnCacheError: config.failOnCacheError, step };
}

/**
 * The one warn-or-throw decision: throws `error` when `policy` fails the step where the
 * trouble happens (fail-on-cache-error in the main step); returns otherwise.
 */
export function throwIfFailsNow(policy: TroublePolicy | undefined, error: unknown): void {
  if (policy !== undefined && policy.failOnCacheError && policy.step === 'main') throw error;
}

/**
 * Whether a phase stops at its first trouble instead of collecting warnings: with
 * fail-on-cache-error the step fails anyway, so the rest of the phase would be wasted.
 */
export function stopsAtFirstTrouble(policy: TroublePolicy | undefined): boolean {
  return policy?.failOnCacheError === true;
}

/** Records a warning the step goes on after (kept for the summary) and shows it. */
export function warn(trouble: Trouble, warning: string): void {
  trouble.warnings.push(warning);
  core.warning(warning);
}

/**
 * Cache trouble: throws `error` when `policy` fails the step at once (throwIfFailsNow);
 * otherwise records `warning`, and a timeout as such.
 */
export function cacheTrouble(
  trouble: Trouble,
  policy: TroublePolicy | undefined,
  warning: string,
  error: unknown,
): void {
  throwIfFailsNow(policy, error);
  if (isCasError(error, 'timeout')) trouble.timedOut = true;
  warn(trouble, warning);
}

/**
 * Runs a phase whose failure is cache trouble: a warning (kept for the summary), and the step
 * goes on with undefined; or, when `policy` fails the step at once, the error stands.
 */
export async function guarded<T>(
  trouble: Trouble,
  what: string,
  body: () => Promise<T>,
  policy?: TroublePolicy,
): Promise<T | undefined> {
  try {
    return await body();
  } catch (err) {
    cacheTrouble(trouble, policy, `${what}: ${describeError(err)}`, err);
    return undefined;
  }
}

/** At the end of the post step: fails it when fail-on-cache-error is set and there was trouble. */
export function failIfTroubled(trouble: Trouble, policy: TroublePolicy): void {
  if (policy.failOnCacheError && trouble.warnings.length > 0) {
    throw new Error(`cache trouble (fail-on-cache-error is set): ${trouble.warnings.join('; ')}`);
  }
}
