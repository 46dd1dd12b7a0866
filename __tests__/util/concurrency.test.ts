import { setImmediate as flush } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { chunks, forEachLimit, mapLimit, sleep } from '../../src/util/concurrency.js';

/** A promise the test settles by hand, so no test depends on timing. */
function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void; reject(err: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Workers that wait until the test releases them, recording what runs. */
function gate<T>() {
  const waiting = new Map<T, ReturnType<typeof deferred>>();
  let running = 0;
  let maxRunning = 0;
  return {
    get running() {
      return running;
    },
    get maxRunning() {
      return maxRunning;
    },
    started: () => [...waiting.keys()],
    worker: async (item: T): Promise<T> => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      const d = deferred();
      waiting.set(item, d);
      try {
        await d.promise;
        return item;
      } finally {
        running--;
      }
    },
    release: (item: T) => waiting.get(item)?.resolve(undefined),
    fail: (item: T, err: unknown) => waiting.get(item)?.reject(err),
  };
}

describe('mapLimit', () => {
  it('returns results in input order even when workers finish in reverse', async () => {
    const g = gate<number>();
    const done = mapLimit([1, 2, 3, 4], 4, async (n) => (await g.worker(n)) * 10);
    await flush();
    for (const n of [4, 3, 2, 1]) {
      g.release(n);
      await flush();
    }
    expect(await done).toEqual([10, 20, 30, 40]);
  });

  it('passes each item its index in the source', async () => {
    const seen: Array<[string, number]> = [];
    await mapLimit(['a', 'b', 'c'], 2, async (item, index) => {
      seen.push([item, index]);
    });
    expect(seen.sort()).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
    ]);
  });

  it('never runs more than the limit at once, and reaches it', async () => {
    const g = gate<number>();
    const items = Array.from({ length: 10 }, (_, i) => i);
    const done = mapLimit(items, 3, g.worker);
    for (let i = 0; i < items.length; i++) {
      await flush();
      expect(g.running).toBeLessThanOrEqual(3);
      g.release(i);
    }
    expect(await done).toEqual(items);
    expect(g.maxRunning).toBe(3);
  });

  it('rethrows the first error, starts no new work after it, and waits for running calls', async () => {
    const g = gate<number>();
    const done = mapLimit([0, 1, 2, 3, 4, 5], 2, g.worker);
    let settled = false;
    void done.catch(() => undefined).finally(() => (settled = true));
    await flush();
    g.fail(0, new Error('first'));
    await flush();
    expect(g.started()).toEqual([0, 1]);
    g.fail(1, new Error('second'));
    await flush();
    await expect(done).rejects.toThrow('first');
    expect(settled).toBe(true);
    expect(g.started()).toEqual([0, 1]);
  });

  it('does not settle while a call that started before the failure still runs', async () => {
    const g = gate<number>();
    const done = mapLimit([0, 1], 2, g.worker);
    let settled = false;
    void done.catch(() => undefined).finally(() => (settled = true));
    await flush();
    g.fail(0, new Error('boom'));
    await flush();
    expect(settled).toBe(false);
    g.release(1);
    await expect(done).rejects.toThrow('boom');
  });

  it('returns an empty array for no items', async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects the limit %d', async (limit) => {
    await expect(mapLimit([1], limit, async () => 1)).rejects.toThrow(
      `concurrency limit must be >= 1, got ${limit}`,
    );
  });
});

describe('forEachLimit with an async iterable source', () => {
  it('pulls the source lazily: never more than `limit` items ahead of finished workers', async () => {
    let pulled = 0;
    let finished = 0;
    let maxAhead = 0;
    async function* source() {
      for (let i = 0; i < 20; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - finished);
        yield i;
      }
    }
    const seen: number[] = [];
    await forEachLimit(source(), 3, async (item, index) => {
      expect(index).toBe(item);
      await flush();
      seen.push(item);
      finished++;
    });
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(maxAhead).toBeLessThanOrEqual(3);
  });

  it('pulls nothing more while every worker is busy', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield i;
      }
    }
    const g = gate<number>();
    const done = forEachLimit(source(), 2, async (n) => void (await g.worker(n)));
    await flush();
    await flush();
    expect(pulled).toBe(2);
    g.release(0);
    await flush();
    await flush();
    expect(pulled).toBe(3);
    for (let i = 1; i < 100; i++) {
      g.release(i);
      await flush();
    }
    await done;
    expect(pulled).toBe(100);
  });

  it('closes the source (its finally runs) when a worker fails', async () => {
    let closed = false;
    let pulled = 0;
    async function* source() {
      try {
        for (let i = 0; i < 100; i++) {
          pulled++;
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    await expect(
      forEachLimit(source(), 2, async (n) => {
        if (n === 3) throw new Error(`item ${n} failed`);
      }),
    ).rejects.toThrow('item 3 failed');
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(100);
  });

  it('rethrows an error of the source itself after running workers settle', async () => {
    const finished: number[] = [];
    async function* source() {
      yield 0;
      yield 1;
      throw new Error('walk failed at /x');
    }
    await expect(
      forEachLimit(source(), 4, async (n) => {
        await flush();
        finished.push(n);
      }),
    ).rejects.toThrow('walk failed at /x');
    expect(finished.sort()).toEqual([0, 1]);
  });
});

describe('chunks and sleep', () => {
  it('splits into batches of at most the size, keeping order', () => {
    expect([...chunks([1, 2, 3, 4, 5], 2)]).toEqual([[1, 2], [3, 4], [5]]);
    expect([...chunks([1, 2], 2)]).toEqual([[1, 2]]);
    expect([...chunks([], 3)]).toEqual([]);
  });

  it('rejects a chunk size below 1', () => {
    expect(() => [...chunks([1], 0)]).toThrow('chunk size must be >= 1, got 0');
  });

  it('sleep resolves', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
  });
});
