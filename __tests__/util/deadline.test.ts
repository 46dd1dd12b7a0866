import { describe, expect, it } from 'vitest';
import { CasError } from '../../src/errors.js';
import { Session } from '../../src/action/persist/session.js';
import { sleep } from '../../src/util/concurrency.js';
import { Deadline, withDeadline } from '../../src/util/deadline.js';

/** A promise that never settles: work that ignores every deadline. */
const never = <T = never>(): Promise<T> => new Promise<T>(() => {});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('withDeadline', () => {
  it('gives the value of work that finishes in time', async () => {
    await expect(withDeadline('looking up', 60_000, async () => 42)).resolves.toBe(42);
  });

  it('passes on the error of work that fails in time', async () => {
    const failure = new Error('remote said no');
    await expect(
      withDeadline('looking up', 60_000, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
  });

  it('rejects with a timeout naming the work and its budget when the work hangs', async () => {
    const err = await rejection(withDeadline('pushing blobs', 1_000, () => never()));
    expect(err).toBeInstanceOf(CasError);
    expect(err).toMatchObject({
      reason: 'timeout',
      message: 'pushing blobs did not finish within 1 s; going on without it',
    });
  });

  it('aborts the signal it gave the work at the deadline', async () => {
    let signal: AbortSignal | undefined;
    await rejection(
      withDeadline('pushing blobs', 20, (s) => {
        signal = s;
        return never();
      }),
    );
    expect(signal?.aborted).toBe(true);
  });
});

describe('Deadline', () => {
  it('counts down from its budget', async () => {
    const deadline = new Deadline(60_000);
    await sleep(20);
    expect(deadline.elapsedMs()).toBeGreaterThanOrEqual(15);
    expect(deadline.remainingMs()).toBeLessThanOrEqual(60_000 - 15);
    expect(deadline.budgetMs).toBe(60_000);
  });

  it('gives every race only the time left, not a fresh budget', async () => {
    const deadline = new Deadline(30);
    await sleep(40);
    expect(deadline.remainingMs()).toBeLessThanOrEqual(0);
    const err = await rejection(deadline.race('the second step', never()));
    expect(err).toMatchObject({ reason: 'timeout' });
  });

  it('says what failed in the words the owner gave', async () => {
    const deadline = new Deadline(10, (what) => `${what} ran out of time`);
    await expect(deadline.race('saving k', never())).rejects.toThrow('saving k ran out of time');
  });
});

describe('persist Session deadline', () => {
  it('rejects work still running at the session deadline with the persist message', async () => {
    const session = new Session({ cacheDir: '/nowhere', prefix: 'casd-test', timeoutMs: 20 });
    const err = await rejection(session.beforeDeadline('saving casd-test-pack-1', never()));
    expect(err).toBeInstanceOf(CasError);
    expect(err).toMatchObject({
      reason: 'timeout',
      message: 'saving casd-test-pack-1 was still running at the deadline; going on without it',
    });
  });

  it('shares one deadline between its calls', async () => {
    const session = new Session({ cacheDir: '/nowhere', prefix: 'casd-test', timeoutMs: 60_000 });
    await sleep(20);
    expect(session.elapsedMs()).toBeGreaterThanOrEqual(15);
    expect(session.remainingMs()).toBeLessThanOrEqual(60_000 - 15);
  });
});
