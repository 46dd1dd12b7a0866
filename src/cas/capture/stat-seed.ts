import { lstatSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Logger, silentLogger } from '../../logger.js';
import { sleep } from '../../util/concurrency.js';
import type { Digest } from '../digest.js';
import { type LinkedFile, linkRecordPath, updateLinkRecord } from './link-record.js';
import {
  FINE_RACY_WINDOW_NS,
  type StatEntry,
  fileStatOf,
  isRacy,
  racyWindowFor,
  saveStatCache,
  statCachePath,
  statKeyOf,
  WALL_CLOCK_ROUNDING_NS,
  wallClockNs,
} from './stat-cache.js';
import type { CasStore } from '../store/store.js';
export { wallClockNs } from './stat-cache.js';
import { type VisitedDirectory, walkDirectories } from '../trees/tree.js';

/** casd marks a file executable when its owner may execute it (as captureIncremental reads it). */
const OWNER_EXECUTE = 0o100;

export interface SeedStatCacheOptions {
  /** Where stat caches live (default `<cacheDir>/cas/stat-cache`, as captureIncremental). */
  statCacheDir?: string;
  /**
   * The Directories of `root` with their paths, as checkout visited them (its `onDirectory`),
   * so that they need not be read again. Without it the tree is walked from the store.
   */
  tree?: Iterable<VisitedDirectory>;
  /** When the last write into `dest` finished (ns, wallClockNs); default: now. */
  writtenNs?: bigint;
  logger?: Logger;
}

export interface SeedStatCacheResult {
  /** Files recorded with their digest from the tree. */
  files: number;
  /** Files found to be hard links to the store's objects, recorded in the link record. */
  linked: number;
  /** Files of the tree left out: changed, missing, or too recent for the racy window. */
  skipped: number;
  /** The racy window the entries were recorded under, in ms. */
  racyWindowMs: number;
  /** Time spent waiting for the clock to pass the last write, in ms. */
  waitedMs: number;
}

/**
 * Records in the stat cache of `dest` that the files there are those of tree `root`, so that
 * the next captureIncremental of `dest` hashes nothing that did not change since. Call it
 * right after checking out `root` at `dest` (directly or merged into it), before anything else
 * writes there: the digests come from the tree, not from reading the files, exactly as git
 * records its index after a checkout. Each file is checked against its tree entry (size,
 * owner-executable bit); a file that does not match, is gone, or is not a regular file is
 * left out (captureIncremental hashes it). Files that are hard links to the store's objects
 * (checkout's `link`) are also written to the link record of `dest` (see link-record.ts), so
 * that checkLinkedFiles can find a write through one of them.
 *
 * The racy rule (see racyWindowFor): an entry only counts if its ctime is older than the
 * start of the stat pass minus the racy window, so that any later change, even one that puts
 * size and mtime back, is seen through its new ctime. Files just written are inside that
 * window; so the stat pass starts only once the window has passed since the last write
 * (`writtenNs`): 20 ms on filesystems with fine timestamps. On a filesystem with whole-second
 * timestamps (window 2 s) it does not wait that long: files written in the last 2 s are left
 * out and hashed by the next capture instead.
 *
 * Returns what was recorded. Throws CasError from reading the tree, or the fs error when the
 * cache or the link record cannot be written.
 */
export async function seedStatCache(
  store: CasStore,
  root: Digest,
  dest: string,
  options: SeedStatCacheOptions = {},
): Promise<SeedStatCacheResult> {
  const logger = options.logger ?? silentLogger;
  const absDest = resolve(dest);
  const dirs = new Map<string, Digest>();
  const nodes: { path: string; digest: Digest; executable: boolean }[] = [];
  const visit = ({ path, digest, directory }: VisitedDirectory): void => {
    dirs.set(path, digest);
    for (const file of directory.files) {
      nodes.push({
        path: path === '' ? file.name : `${path}/${file.name}`,
        digest: file.digest as Digest,
        executable: file.isExecutable,
      });
    }
  };
  if (options.tree) for (const visited of options.tree) visit(visited);
  else for await (const visited of walkDirectories(store, root)) visit(visited);

  // Wait until every file we wrote is outside the fine window: its ctime is at most the time
  // the last write returned (the kernel's coarse clock lags the real time, never leads it).
  // wallClockNs rounds down, so the last write may have ended up to WALL_CLOCK_ROUNDING_NS later.
  const writtenNs = options.writtenNs ?? wallClockNs();
  const waitMs = Number(writtenNs + WALL_CLOCK_ROUNDING_NS + FINE_RACY_WINDOW_NS - wallClockNs()) / 1e6;
  if (waitMs > 0) await sleep(Math.ceil(waitMs));
  const waitedMs = Math.max(0, waitMs);

  const scanStartNs = wallClockNs();
  const stats: { path: string; entry: StatEntry }[] = [];
  const linked: LinkedFile[] = [];
  for (const node of nodes) {
    let info;
    try {
      // Synchronous, as captureIncremental's scan: a cached lstat costs microseconds.
      info = lstatSync(join(absDest, ...node.path.split('/')), { bigint: true });
    } catch {
      continue; // gone (or unreadable): the next capture sees for itself
    }
    // Checkout made every file of the tree afresh, and a copy has one link: a second one is
    // the object's name in the store (checkout's `link`), so this inode is casd's object.
    if (info.isFile() && info.nlink > 1n) {
      linked.push({ path: node.path, hash: node.digest.hash, ...fileStatOf(info), racy: false });
    }
    if (!info.isFile() || info.size !== BigInt(node.digest.sizeBytes)) continue;
    if (((Number(info.mode) & OWNER_EXECUTE) !== 0) !== node.executable) continue;
    stats.push({ path: node.path, entry: { stat: statKeyOf(info), hash: node.digest.hash } });
  }
  const racyWindowNs = racyWindowFor(stats.map((s) => s.entry.stat));
  const files = new Map<string, StatEntry>();
  for (const { path, entry } of stats) {
    if (!isRacy(entry.stat, scanStartNs, racyWindowNs)) files.set(path, entry);
  }
  const statCacheDir = options.statCacheDir ?? join(store.cacheDir, 'cas', 'stat-cache');
  // Every linked file is recorded, racy or not: a racy one is hashed at every check instead.
  for (const file of linked) file.racy = isRacy(file, scanStartNs, racyWindowNs);
  await updateLinkRecord(
    linkRecordPath(statCacheDir, absDest, store.instanceName),
    absDest,
    linked,
    new Set(nodes.map((n) => n.path)),
  );
  const cacheFile = statCachePath(statCacheDir, absDest, store.instanceName);
  await saveStatCache(cacheFile, { root: absDest, scanStartNs, racyWindowNs, files, dirs });
  const result: SeedStatCacheResult = {
    files: files.size,
    linked: linked.length,
    skipped: nodes.length - files.size,
    racyWindowMs: Number(racyWindowNs) / 1e6,
    waitedMs,
  };
  logger.debug(
    `stat cache of ${absDest} seeded from the restored tree: ${result.files} file(s), ` +
      `${result.skipped} left out, ${result.linked} linked, racy window ${result.racyWindowMs} ms`,
  );
  return result;
}
