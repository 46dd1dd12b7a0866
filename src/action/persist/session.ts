import { CasError, type CasErrorReason, describeError, isCasError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import { sleep } from '../../util/concurrency.js';
import { Deadline } from '../../util/deadline.js';
import { stopsAtFirstTrouble } from '../guard.js';
import { PERSIST_DEFAULTS } from './options.js';
import type { PersistOptions } from './types.js';

/**
 * One save or restore: its deadline, retry settings, and the warnings it collects. Trouble
 * goes through `problem`, which throws when the caller asked to fail on cache errors.
 */
export class Session {
  readonly logger: Logger;
  readonly warnings: string[] = [];
  readonly attempts: number;
  readonly retryDelayMs: number;
  private readonly stopAtFirstTrouble: boolean;
  private readonly deadline: Deadline;

  constructor(options: PersistOptions) {
    this.logger = options.logger ?? silentLogger;
    this.stopAtFirstTrouble = stopsAtFirstTrouble(options.policy);
    this.attempts = options.attempts ?? PERSIST_DEFAULTS.attempts;
    this.retryDelayMs = options.retryDelayMs ?? PERSIST_DEFAULTS.retryDelayMs;
    const timeoutMs = options.timeoutMs ?? PERSIST_DEFAULTS.timeoutMs;
    this.deadline = new Deadline(
      timeoutMs,
      (what) => `${what} was still running at the deadline; going on without it`,
    );
    if (!Number.isInteger(this.attempts) || this.attempts < 1)
      throw new CasError('invalid-input', `attempts must be an integer >= 1, got ${options.attempts}`);
    if (!(timeoutMs > 0))
      throw new CasError('invalid-input', `timeoutMs must be > 0, got ${options.timeoutMs}`);
  }

  elapsedMs(): number {
    return this.deadline.elapsedMs();
  }

  remainingMs(): number {
    return this.deadline.remainingMs();
  }

  /** Records a warning, or throws it as a CasError when the policy stops at the first trouble. */
  problem(reason: CasErrorReason, message: string, cause?: unknown): void {
    if (this.stopAtFirstTrouble) throw new CasError(reason, message, { cause });
    this.warnings.push(message);
    this.logger.warning(message);
  }

  /** A whole operation failed with `err`: a CasError passes through as is, or a problem. */
  failed(doing: string, err: unknown): void {
    if (isCasError(err) && this.stopAtFirstTrouble) throw err;
    this.problem(isCasError(err) ? err.reason : 'io', `${doing} failed: ${describeError(err)}`, err);
  }

  /**
   * Races `work` against the deadline. On expiry it rejects with CasError('timeout'); the
   * library call cannot be cancelled and is left to finish in the background.
   */
  beforeDeadline<T>(what: string, work: Promise<T>): Promise<T> {
    return this.deadline.race(what, work);
  }

  /** Waits before retry number `attempt` (1-based), never past the deadline. */
  async backoff(attempt: number): Promise<void> {
    const delay = Math.min(this.retryDelayMs * 2 ** (attempt - 1), Math.max(0, this.remainingMs()));
    if (delay > 0) await sleep(delay);
  }
}
