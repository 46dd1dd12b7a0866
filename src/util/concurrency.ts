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
 * (a tree walk, say) is pulled only as fast as workers free up.
 */
export async function forEachLimit<T>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  worker: (item: T, index: number) => Promise<void>,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`concurrency limit must be >= 1, got ${limit}`);
  const iterator =
    Symbol.asyncIterator in items
      ? (items as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (items as Iterable<T>)[Symbol.iterator]();
  let index = 0;
  let failed = false;
  let firstError: unknown;
  let pulling: Promise<void> = Promise.resolve();

  // Pulls are serialised: async iterators must not be advanced concurrently.
  const next = (): Promise<IteratorResult<T> | undefined> => {
    const result = pulling.then(() => (failed ? undefined : iterator.next()));
    pulling = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  };

  const lane = async (): Promise<void> => {
    for (;;) {
      const step = await next();
      if (!step || step.done) return;
      const i = index++;
      try {
        await worker(step.value, i);
      } catch (err) {
        if (!failed) {
          failed = true;
          firstError = err;
        }
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  if (failed) throw firstError;
}

/** Splits an iterable into arrays of at most `size` items. */
export function* chunks<T>(items: Iterable<T>, size: number): Generator<T[]> {
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
