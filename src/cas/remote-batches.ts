import type { Digest } from './digest.js';

/**
 * Bytes counted per blob on top of its data: the digest (64 hex + size), field tags, length
 * prefixes and a status or compressor field. Generous on purpose, as strict servers measure
 * the whole message.
 */
export const PER_BLOB_OVERHEAD_BYTES = 160;
/** Kept free in every batch for the request's own fields (instance name, digest function). */
export const BATCH_HEADROOM_BYTES = 4096;
/** At most this many blobs per batch, so that many small blobs still spread over calls. */
export const MAX_BLOBS_PER_BATCH = 1024;

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
