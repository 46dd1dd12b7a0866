import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type Logger, silentLogger } from '../../logger.js';
import { checkout } from '../trees/checkout.js';
import type { Digest } from '../digest.js';
import { type SeedStatCacheResult, seedStatCache, wallClockNs } from '../capture/stat-seed.js';
import type { CasStore } from '../store/store.js';
import type { CasClient } from '../remote/cas-client.js';
import type { VisitedDirectory } from '../trees/tree.js';

/** Moves everything in `from` into `to`, replacing files, merging directories. */
async function mergeInto(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    const existing = await lstat(target).catch(() => undefined);
    if (entry.isDirectory() && existing?.isDirectory()) {
      await mergeInto(source, target);
      continue;
    }
    if (existing) await rm(target, { recursive: true, force: true });
    await rename(source, target);
  }
}

export interface StageOptions {
  /**
   * Hard-link files from casd's object store instead of copying them (executables are still
   * copied). Only for trees nothing will modify in place: linked files are casd's read-only
   * objects (mode 0444), and a tool that rewrites one in place (as root, or after a chmod)
   * corrupts the local cache. Default false: ordinary writable copies (0644/0755).
   */
  link?: boolean;
  /**
   * Record the restored files in the stat cache of `dest` (seedStatCache), so that the post
   * step's capture of an unchanged `dest` hashes nothing. Default true.
   */
  seedStatCache?: boolean;
  /** Where stat caches live (default `<cacheDir>/cas/stat-cache`, as captureIncremental). */
  statCacheDir?: string;
  /** Read file blobs the local store lacks from this remote straight into place (CheckoutOptions.remote). */
  remote?: CasClient;
  /**
   * Called with each Directory checked out (CheckoutOptions.onDirectory): lets a caller learn
   * the tree's blobs without reading it again (CasStore.installPacked).
   */
  onDirectory?: (visited: VisitedDirectory) => void;
  logger?: Logger;
}

export interface StageResult {
  /** What the stat cache was seeded with; undefined when not asked or when it failed. */
  seeded?: SeedStatCacheResult;
}

/**
 * Materialises tree `digest` at `dest`, over whatever is there already: into `dest` when it
 * is empty or absent, else beside it and merged in (files replaced, directories merged).
 * Then seeds the stat cache of `dest` (see StageOptions). A seeding failure is logged as a
 * warning and leaves the restore intact (the next capture then hashes everything).
 * Throws CasError like checkout (missing blobs, unsafe tree, bad destination).
 */
export async function stageDirectory(
  store: CasStore,
  digest: Digest,
  dest: string,
  options: StageOptions = {},
): Promise<StageResult> {
  const logger = options.logger ?? silentLogger;
  const seed = options.seedStatCache ?? true;
  const visited: VisitedDirectory[] = [];
  const checkoutOptions = {
    link: options.link,
    remote: options.remote,
    onDirectory:
      seed || options.onDirectory
        ? (v: VisitedDirectory) => {
            if (seed) visited.push(v);
            options.onDirectory?.(v);
          }
        : undefined,
  };
  const existing = await readdir(dest).catch(() => undefined);
  if (existing === undefined || existing.length === 0) {
    await checkout(store, digest, dest, checkoutOptions);
  } else {
    // checkout refuses non-empty destinations; stage beside it (same filesystem) and merge.
    const staging = `${dest}.casd-${randomBytes(4).toString('hex')}`;
    try {
      await checkout(store, digest, staging, checkoutOptions);
      await mergeInto(staging, dest);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  if (!seed) return {};
  try {
    const seeded = await seedStatCache(store, digest, dest, {
      tree: visited,
      writtenNs: wallClockNs(),
      statCacheDir: options.statCacheDir,
      logger,
    });
    return { seeded };
  } catch (err) {
    logger.warning(
      `cannot record the restored files of ${dest} in the stat cache (${(err as Error).message}); the next capture hashes them all`,
    );
    return {};
  }
}
