import type { Logger } from '../../logger.js';
import type { TroublePolicy } from '../guard.js';

/** Settings shared by save and restore. */
export interface PersistOptions {
  /** The casd cache directory (holds `cas/`, `actioncache/`, `assets/`). */
  cacheDir: string;
  /** Start of every cache key this module writes, e.g. `casd-Linux-X64`. */
  prefix: string;
  logger?: Logger;
  /** The step's trouble policy: with fail-on-cache-error, the first trouble throws a CasError. */
  policy?: TroublePolicy;
  /** Deadline of the whole operation; past it, stop with a warning. Default 10 minutes. */
  timeoutMs?: number;
  /** Attempts per cache call before giving up with a warning. Default 3. */
  attempts?: number;
  /** Wait before the second attempt, doubled for each further one. Default 2000 ms. */
  retryDelayMs?: number;
}

export interface PersistSaveOptions extends PersistOptions {
  /** Default `GITHUB_RUN_ID` or `local`. */
  runId?: string;
  /** Default `GITHUB_RUN_ATTEMPT` or `1`. */
  runAttempt?: string;
  /** Largest pack, in bytes of blobs. Default 2 GB. */
  maxPackBytes?: number;
  /** Compact when the listed packs would exceed this many. Default 8. */
  maxPacks?: number;
  /** Compact when more than this share of the listed bytes is gone locally. Default 0.5. */
  maxDeadRatio?: number;
  /** Packs up to this many bytes in all travel inside the index entry. Default 16 MB. */
  maxInlineBytes?: number;
  /**
   * New packs up to this many bytes in all are stored inside the save's index entry, to stay
   * (later indexes list them there); the rest are entries of their own. Default 9 GB; 0 gives
   * every new pack beyond the inline ones an entry of its own.
   */
  maxCarriedBytes?: number;
}

export interface PersistRestoreOptions extends PersistOptions {
  /**
   * Write the restored blobs into casd's object store (default true). False keeps packs of
   * format 2 as the local store's pack files (`cas/packs`): CasStore reads and checks out
   * from them, each file written once, and installPackedBlobs writes out what casd must serve.
   */
  installBlobs?: boolean;
}

export interface PersistSaveResult {
  packsUploaded: number;
  /** Packs whose key already existed in the cache (content-keyed, so nothing to send). */
  packsSkipped: number;
  /** Blobs in the packs uploaded. */
  blobsPacked: number;
  /** Uncompressed bytes of blobs and files sent (packs uploaded plus the index). */
  bytesUploaded: number;
  /** Key of the index saved; undefined when none was (unchanged, or it failed). */
  indexKey?: string;
  /** The local store was rewritten into one fresh pack (generation rollover). */
  compacted: boolean;
  /** Why nothing was saved: this run's Actions cache is read-only (restores still work). */
  readOnly?: string;
  durationMs: number;
  warnings: string[];
}

export interface PersistRestoreResult {
  /** Key of the index restored; undefined on a miss or failure. */
  indexKey?: string;
  packsDownloaded: number;
  /** Blobs made local: written into `cas/objects`, or kept in pack files (installBlobs false). */
  blobsRestored: number;
  /** Packs already in the local store's pack files, so not downloaded again. */
  packsReused: number;
  /** Uncompressed bytes of the packs downloaded. */
  bytesDownloaded: number;
  /** Small files (refs, action cache, assets) put in place. */
  filesRestored: number;
  durationMs: number;
  warnings: string[];
}
