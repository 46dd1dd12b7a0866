/**
 * Tuning numbers of persisting the local CAS to the Actions cache. Each is defined here once,
 * with its default and why; the modules that use them import them from here.
 */

/** Defaults of the PersistOptions and PersistSaveOptions settings a caller may override. */
export const PERSIST_DEFAULTS = {
  /**
   * Deadline of a whole save or restore: 10 minutes, as a cache that takes longer costs more than
   * it saves.
   */
  timeoutMs: 10 * 60_000,
  /**
   * Attempts per cache call: 3 rides out a brief service hiccup without holding the job up long.
   */
  attempts: 3,
  /** Wait before the second attempt, doubled for each further one: 2 s, then 4 s. */
  retryDelayMs: 2000,
  /**
   * Largest pack, in bytes of blobs: 2 GB keeps each upload well inside the cache service's entry
   * limit.
   */
  maxPackBytes: 2e9,
  /**
   * Largest pack a capture's pack file may become whole (see planSave's localPacks): 9 GB stays
   * inside the cache service's 10 GB entry limit.
   */
  maxWholePackBytes: 9e9,
  /**
   * Compact when the listed packs would exceed this many: 8 bounds the entries a restore downloads.
   */
  maxPacks: 8,
  /**
   * Compact when more than this share of the listed bytes is gone locally: past half, a restore
   * mostly downloads waste.
   */
  maxDeadRatio: 0.5,
  /**
   * Packs up to this many bytes in all travel inside the index entry. A pack of its own costs
   * ~3 requests to save and 2 to restore (0.22-0.32 s each on GitHub); carried in the index,
   * 16 MB costs ~0.2 s more per save (84 MB/s) and ~0.3 s per restore (52 MB/s).
   */
  maxInlineBytes: 16e6,
  /**
   * New packs up to this many bytes in all are stored in the save's index entry instead of
   * entries of their own: a save is then one entry (2 requests, as actions/cache's) and a
   * restore of it one download. 9 GB stays inside the cache service's 10 GB entry limit.
   */
  maxCarriedBytes: 9e9,
} as const;

/**
 * Small files (refs, action cache, assets) read or staged at once: small reads, a few in flight
 * saturate the disk.
 */
export const SMALL_FILE_CONCURRENCY = 16;
/**
 * Blobs linked, moved or statted at once: each is one cheap metadata call, 32 keeps libuv's pool
 * fed.
 */
export const BLOB_FILE_CONCURRENCY = 32;
/**
 * Object prefix directories (`objects/xx`) listed at once while scanning the store; each lists
 * BLOB_FILE_CONCURRENCY entries at once.
 */
export const SCAN_DIR_CONCURRENCY = 8;
