import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { type Logger, silentLogger } from '../../logger.js';
import { forEachLimit } from '../../util/concurrency.js';
import type { Digest } from '../digest.js';
import {
  type LinkRecord,
  type LinkedFile,
  listLinkRecords,
  loadLinkRecord,
  removeLinkRecord,
  saveLinkRecord,
  statCacheOfLinkRecord,
} from './link-record.js';
import {
  type FileStat,
  fileStatOf,
  isRacy,
  loadStatCache,
  racyWindowFor,
  sameStat,
  saveStatCache,
  wallClockNs,
} from './stat-cache.js';
import type { CasStore } from '../store/store.js';
import { VERIFY_CONCURRENCY } from '../options.js';
import { checkObject } from '../store/verify.js';
import { VERIFY_HINT } from '../store/corrupt.js';

/** An object that a write through a linked file damaged. */
export interface DamagedObject {
  /** The digest the object was stored under. */
  digest: Digest;
  objectPath: string;
  /** What the object, and so every file linked to it, holds now. */
  actual: Digest;
  /** False only when another process replaced the object file while it was being hashed. */
  evicted: boolean;
  /** Absolute paths of the linked files that share the object's inode. */
  paths: string[];
}

export interface LinkCheckResult {
  /** Linked files looked at (every entry of every link record). */
  files: number;
  /** Objects hashed again because their stat changed since it was recorded (or was racy). */
  rehashed: number;
  damaged: DamagedObject[];
}

export interface LinkCheckOptions {
  /** Where stat caches and link records live (default `<cacheDir>/cas/stat-cache`). */
  statCacheDir?: string;
  /** Objects hashed at once (default VERIFY_CONCURRENCY). */
  concurrency?: number;
  logger?: Logger;
}

interface Loaded {
  file: string;
  record: LinkRecord;
  /** Entries whose object's inode did not change: still links, as recorded. */
  kept: LinkedFile[];
  /** Entries whose object changed and was hashed again, with its new stat. */
  rechecked: LinkedFile[];
  damagedPaths: string[];
}

type Entry = { owner: Loaded; file: LinkedFile };

function absolute(root: string, path: string): string {
  return join(root, ...path.split('/'));
}

/**
 * Finds writes through files restored as hard links (seedStatCache's link records): for each
 * object a linked file shares its inode with, compares the inode's stat (size, mtime, ctime)
 * with the recorded one; when it changed, re-hashes the object, and when its content no longer
 * matches its digest, evicts it (the next restore fetches a good copy or misses) and drops the
 * linked files from their stat cache, so that the next capture hashes them afresh. Links that
 * are gone (file replaced, object expired) leave the records; the rest are recorded again with
 * their current stat. Call it before capturing, pushing or persisting anything.
 *
 * Returns what was checked and the damaged objects, each with every linked path that shares
 * it. Throws the fs error when an object cannot be read or a record cannot be written.
 */
export async function checkLinkedFiles(
  store: CasStore,
  options: LinkCheckOptions = {},
): Promise<LinkCheckResult> {
  const logger = options.logger ?? silentLogger;
  const dir = options.statCacheDir ?? join(store.cacheDir, 'cas', 'stat-cache');
  const result: LinkCheckResult = { files: 0, rehashed: 0, damaged: [] };
  const checkStartNs = wallClockNs();
  const loaded: Loaded[] = [];
  // One object can be linked from several files, and from several restored directories.
  const byHash = new Map<string, Entry[]>();
  for (const file of await listLinkRecords(dir)) {
    const read = await loadLinkRecord(file);
    if (!read.record) {
      logger.warning(
        `link record ${file} cannot be used (${read.reason}), so files restored there as links were not checked; ${VERIFY_HINT}`,
      );
      await removeLinkRecord(file);
      continue;
    }
    const owner: Loaded = { file, record: read.record, kept: [], rechecked: [], damagedPaths: [] };
    loaded.push(owner);
    result.files += read.record.files.length;
    for (const entry of read.record.files) {
      const group = byHash.get(entry.hash) ?? [];
      if (group.length === 0) byHash.set(entry.hash, group);
      group.push({ owner, file: entry });
    }
  }

  // Synchronous lstat calls (a cached one costs microseconds) sort the objects first: gone or
  // replaced since (no longer linked: nothing to protect), unchanged, or to be hashed again.
  const toHash: { hash: string; sizeBytes: number; linked: Entry[]; current: FileStat }[] = [];
  for (const [hash, group] of byHash) {
    const sizeBytes = Number(group[0].file.size);
    let current: FileStat;
    try {
      current = fileStatOf(lstatSync(store.objectPath({ hash, sizeBytes }), { bigint: true }));
    } catch {
      continue; // expired from the store
    }
    // Entries of another inode: the object was evicted and fetched again since.
    const linked = group.filter(({ file }) => file.ino === current.ino);
    if (linked.some(({ file }) => file.racy || !sameStat(file, current))) {
      toHash.push({ hash, sizeBytes, linked, current });
    } else {
      for (const { owner, file } of linked) owner.kept.push(file);
    }
  }
  result.rehashed = toHash.length;
  await forEachLimit(toHash, options.concurrency ?? VERIFY_CONCURRENCY, async (item) => {
    const { hash, sizeBytes, linked, current } = item;
    const check = await checkObject(store, { hash, sizeBytes }, { evict: true });
    if (check.status === 'missing') return;
    if (check.status === 'corrupt') {
      result.damaged.push({
        digest: { hash, sizeBytes },
        objectPath: check.path,
        actual: check.actual,
        evicted: check.evicted,
        paths: linked.map(({ owner, file }) => absolute(owner.record.root, file.path)),
      });
      for (const { owner, file } of linked) owner.damagedPaths.push(file.path);
      return;
    }
    for (const { owner, file } of linked) owner.rechecked.push({ ...file, ...current });
  });

  for (const owner of loaded) await rewrite(owner, checkStartNs);
  return result;
}

// Records the links that still are links, with their racy flag for the time of this check,
// and forgets the damaged files in the stat cache of their directory. An unchanged record is
// left as it is.
async function rewrite(owner: Loaded, checkStartNs: bigint): Promise<void> {
  const { root } = owner.record;
  // Only a changed inode can have lost a link: removing or renaming one of its names sets its
  // ctime, so the files of unchanged objects need no look.
  const still = owner.rechecked.filter((file) => {
    try {
      return lstatSync(absolute(root, file.path), { bigint: true }).ino.toString() === file.ino;
    } catch {
      return false;
    }
  });
  if (owner.rechecked.length > 0 || owner.kept.length !== owner.record.files.length) {
    const files = [...owner.kept, ...still];
    const windowNs = racyWindowFor(files);
    for (const file of still) file.racy = isRacy(file, checkStartNs, windowNs);
    await saveLinkRecord(owner.file, { root, files });
  }
  if (owner.damagedPaths.length === 0) return;
  const cacheFile = statCacheOfLinkRecord(owner.file);
  const { cache } = await loadStatCache(cacheFile, root);
  if (!cache) return; // none: the next capture hashes everything anyway
  for (const path of owner.damagedPaths) cache.files.delete(path);
  await saveStatCache(cacheFile, cache);
}
