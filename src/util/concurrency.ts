/**
 * Runs `worker` over `items` with at most `limit` calls in flight and returns the results in
 * input order. The first rejection stops new work and is rethrown once running calls settle.
 */
export async function mapLimit<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  worker: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  await forEachLimit(items, limit, async (item, index) => {
    results[index] = await worker(item, index);
  });
  return results;
}

/**
 * Like `mapLimit` without collecting results; accepts async iterables so that a producer
 * (a tree walk, say) is pulled only as fast as workers free up: at most `limit` items are
 * taken ahead of the workers that finished. The first failure (of a worker or of the source
 * itself) stops pulling, closes the source (`return()`), waits for running workers and is
 * rethrown.
 */
export async function forEachLimit<T>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  worker: (item: T, index: number) => Promise<void>,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`concurrency limit must be >= 1, got ${limit}`);
  const iterator: Iterator<T> | AsyncIterator<T> =
    Symbol.asyncIterator in items
      ? (items as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (items as Iterable<T>)[Symbol.iterator]();
  let nextIndex = 0;
  let done = false;
  let failed = false;
  let firstError: unknown;
  let pulling: Promise<unknown> = Promise.resolve();

  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    firstError = err;
  };

  // Pulls are serialised (async iterators must not be advanced concurrently), and the index
  // is taken in the same step so that it always matches the item's position in the source.
  const next = (): Promise<{ value: T; index: number } | undefined> => {
    const result = pulling.then(async () => {
      if (failed || done) return undefined;
      const step = await iterator.next();
      if (step.done) {
        done = true;
        return undefined;
      }
      return { value: step.value, index: nextIndex++ };
    });
    pulling = result.catch(() => undefined);
    return result;
  };

  const lane = async (): Promise<void> => {
    for (;;) {
      let item: { value: T; index: number } | undefined;
      try {
        item = await next();
      } catch (err) {
        done = true; // a source that threw is finished; do not close it again
        fail(err);
        return;
      }
      if (!item) return;
      try {
        await worker(item.value, item.index);
      } catch (err) {
        fail(err);
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  if (failed) {
    // Let a generator run its `finally` blocks (close directory handles, say).
    if (!done) await Promise.resolve(iterator.return?.()).catch(() => undefined);
    throw firstError;
  }
}

/** Splits an iterable into arrays of at most `size` items (`size` >= 1). */
export function* chunks<T>(items: Iterable<T>, size: number): Generator<T[]> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be >= 1, got ${size}`);
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
