import { CasError } from '../errors.js';

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
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(
        new CasError(
          'timeout',
          `${what} did not finish within ${Math.round(ms / 1000)} s; going on without it`,
        ),
      );
    }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([body(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}
