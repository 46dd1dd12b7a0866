import type { Digest } from '../digest.js';
import { BATCH_HEADROOM_BYTES, MAX_BLOBS_PER_BATCH, PER_BLOB_OVERHEAD_BYTES } from '../options.js';

export { BATCH_HEADROOM_BYTES, MAX_BLOBS_PER_BATCH, PER_BLOB_OVERHEAD_BYTES } from '../options.js';

/** Blobs grouped for batch calls, and those too big for any batch (for ByteStream). */
export interface BatchPlan {
  batches: Digest[][];
  singles: Digest[];
}

/**
 * Packs digests into batches whose total (data plus per-blob overhead) stays within
 * `maxBatchBytes` minus headroom; blobs that cannot fit even alone go to `singles`.
 */
export function planBatches(digests: Iterable<Digest>, maxBatchBytes: number): BatchPlan {
  const budget = Math.max(0, maxBatchBytes - BATCH_HEADROOM_BYTES);
  const plan: BatchPlan = { batches: [], singles: [] };
  let current: Digest[] = [];
  let used = 0;
  for (const digest of digests) {
    const cost = digest.sizeBytes + PER_BLOB_OVERHEAD_BYTES;
    if (cost > budget) {
      plan.singles.push(digest);
      continue;
    }
    if (used + cost > budget || current.length >= MAX_BLOBS_PER_BATCH) {
      plan.batches.push(current);
      current = [];
      used = 0;
    }
    current.push(digest);
    used += cost;
  }
  if (current.length > 0) plan.batches.push(current);
  return plan;
}
