import { CasError } from '../errors.js';

/** Says what failed when `what` was still running as its deadline passed. */
export type ExpiryMessage = (what: string) => string;

/**
 * A point in time, `budgetMs` after it was made, that work is raced against. Past it the
 * race rejects with CasError('timeout') whose message `expiryMessage` gives (by default
 * "<what> did not finish within N s; going on without it"). Work that ignores the deadline
 * cannot be cancelled here and is left to finish in the background.
 */
export class Deadline {
  readonly budgetMs: number;
  private readonly started = Date.now();
  private readonly at: number;
  private readonly expiryMessage: ExpiryMessage;

  constructor(budgetMs: number, expiryMessage?: ExpiryMessage) {
    this.budgetMs = budgetMs;
    this.at = this.started + budgetMs;
    this.expiryMessage =
      expiryMessage ??
      ((what) => `${what} did not finish within ${Math.round(budgetMs / 1000)} s; going on without it`);
  }

  /** Milliseconds since the deadline was made. */
  elapsedMs(): number {
    return Date.now() - this.started;
  }

  /** Milliseconds left before the deadline; 0 or less once it has passed. */
  remainingMs(): number {
    return this.at - Date.now();
  }

  /**
   * Races `work` against the deadline: resolves or rejects as `work` does, or rejects with
   * CasError('timeout') naming `what` when the deadline passes first. `onExpiry` runs just
   * before that rejection (to abort the work).
   */
  async race<T>(what: string, work: Promise<T>, onExpiry?: () => void): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          onExpiry?.();
          reject(new CasError('timeout', this.expiryMessage(what)));
        },
        Math.max(0, this.remainingMs()),
      );
      timer.unref();
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs `body` with an AbortSignal that fires at the deadline, and races it as `race` does,
   * so `body` can stop its calls while the caller goes on.
   */
  async run<T>(what: string, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    return await this.race(what, body(controller.signal), () => controller.abort());
  }
}

/**
 * Runs `body` with an AbortSignal that fires after `ms`; rejects with CasError('timeout')
 * naming `what` when the deadline passes first, even if `body` ignores the signal, so a hung
 * remote costs the caller at most `ms`.
 */
export async function withDeadline<T>(
  what: string,
  ms: number,
  body: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return await new Deadline(ms).run(what, body);
}
