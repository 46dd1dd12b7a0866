import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BigIntStats } from 'node:fs';
import type { Digest } from '../digest.js';

/**
 * A stat cache, like git's index: for each file of a captured tree, the stat fields that
 * change whenever its content can have changed (size, mtime, ctime, inode, mode), and the
 * digest its content had. A later capture hashes only files whose stat differs.
 *
 * Why ctime too: a tool can restore a file's mtime after rewriting it (utimes), but the
 * kernel sets ctime to "now" on every content or metadata change and no call sets it back.
 */

/**
 * Bumped whenever the layout or the meaning of a field changes; other versions are ignored.
 * Version 2: a file's stat is one string (StatKey), so a row is [path, stat, hash].
 */
export const STAT_CACHE_VERSION = 2;
const FORMAT = 'casd-action-stat-cache';
const HASH_PATTERN = /^[0-9a-f]{64}$/;
const STAT_KEY_PATTERN = /^\d+:\d+:\d+:\d+:\d+$/;
/** Rows written per piece, so that saving a large cache never builds the whole text at once. */
const ROWS_PER_WRITE = 8192;

/** The stat fields compared, as decimal strings (nanosecond times do not fit in a double). */
export interface FileStat {
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  mode: string;
}

/**
 * The same fields in one string, `size:mtimeNs:ctimeNs:ino:mode`: two stats are the same
 * when their keys are equal. One string a file instead of an object of five keeps the scan
 * and the cache of a 100,000-file tree small (the five strings and their object took about
 * three times the memory).
 */
export type StatKey = string;

/** One cached file: its stat when it was hashed and the hash of its content. */
export interface StatEntry {
  stat: StatKey;
  hash: string;
}

/** A loaded or freshly built stat cache for one root directory. */
export interface StatCache {
  root: string;
  /**
   * When the scan that recorded these entries started (ns since the epoch). A file whose
   * mtime or ctime is not clearly older than this was perhaps still being written while it
   * was hashed ("racy", as git calls it) and is hashed again next time.
   */
  scanStartNs: bigint;
  /**
   * The racy window the entries were recorded under (see racyWindowFor); absent in caches
   * written before it was recorded, which get the reader's default (1 s).
   */
  racyWindowNs?: bigint;
  /** `/`-separated path relative to the root -> entry. */
  files: Map<string, StatEntry>;
  /** `/`-separated path relative to the root ("" for the root) -> its Directory digest. */
  dirs: Map<string, Digest>;
}

/** Why a cache could not be used, for the log. */
export type StatCacheLoad = { cache: StatCache } | { cache: undefined; reason: string };

type FileRow = [string, StatKey, string];

interface StatCacheFile {
  format: string;
  version: number;
  root: string;
  scanStartNs: string;
  /** Optional: older files of the same version lack it (readers then assume 1 s). */
  racyWindowNs?: string;
  /** [path, stat, hash] */
  files: FileRow[];
  /** [path, hash, size] */
  dirs: [string, string, number][];
}

/** The stat fields of `stats` (from lstat with `bigint: true`) in cache form. */
export function fileStatOf(stats: BigIntStats): FileStat {
  return {
    size: stats.size.toString(),
    mtimeNs: stats.mtimeNs.toString(),
    ctimeNs: stats.ctimeNs.toString(),
    ino: stats.ino.toString(),
    mode: stats.mode.toString(),
  };
}

/** The stat key of `stats` (from lstat with `bigint: true`). */
export function statKeyOf(stats: BigIntStats): StatKey {
  // join gives one flat string; a template literal a tree of nine (385 bytes a key, not 89).
  return [stats.size, stats.mtimeNs, stats.ctimeNs, stats.ino, stats.mode].join(':');
}

/** The stat key of the fields of `stat`. */
export function statKeyFrom(stat: FileStat): StatKey {
  return [stat.size, stat.mtimeNs, stat.ctimeNs, stat.ino, stat.mode].join(':');
}

// mtime and ctime of either form, for the racy rule.
function timesOf(stat: FileStat | StatKey): [bigint, bigint] {
  if (typeof stat !== 'string') return [BigInt(stat.mtimeNs), BigInt(stat.ctimeNs)];
  const fields = stat.split(':');
  return [BigInt(fields[1]), BigInt(fields[2])];
}

/** True when every compared field of the two stats is equal. */
export function sameStat(a: FileStat, b: FileStat): boolean {
  return (
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs &&
    a.ino === b.ino &&
    a.mode === b.mode
  );
}

/**
 * True when `entry` may be stale although its stat matches: its mtime or ctime falls within
 * `windowNs` before (or after) the start of the scan that recorded it, so the file may have
 * changed again within the filesystem's timestamp granularity after it was hashed.
 */
export function isRacy(stat: FileStat | StatKey, scanStartNs: bigint, windowNs: bigint): boolean {
  const limit = scanStartNs - windowNs;
  const [mtimeNs, ctimeNs] = timesOf(stat);
  return mtimeNs >= limit || ctimeNs >= limit;
}

/**
 * Wall-clock time in ns, rounded down to the millisecond: the clock file timestamps come from.
 * Why not performance.timeOrigin + performance.now(): that is the monotonic clock, and on a VM
 * whose wall clock was being slewed it drifted 5 ms a second from it (measured), so files just
 * written had ctimes "in the future" and every seeded file counted as racy.
 */
export function wallClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** What wallClockNs may be behind the true time (it rounds down to the millisecond). */
export const WALL_CLOCK_ROUNDING_NS = 1_000_000n;

/** The smallest racy window used: above the coarse clock tick of any kernel (HZ >= 100: 10 ms). */
export const FINE_RACY_WINDOW_NS = 20_000_000n;

/**
 * The racy window to record entries under, from the timestamps the filesystem gives.
 *
 * Why this is safe: a file's ctime is set from the kernel's clock on every change of content
 * or metadata, and nothing can set it back. On ext4, xfs, btrfs and tmpfs timestamps have
 * nanosecond fields but come from a coarse clock that lags the real time by at most one tick
 * (1-10 ms; finer with multigrain timestamps). So a change made after a scan started at T
 * gets a ctime > T - tick. An entry whose ctime is older than T - window (window >= tick) can
 * therefore not be confused with a later change: the later change moves ctime past it, even
 * when size and mtime are put back. Entries newer than that are "racy" and hashed again.
 *
 * Filesystems that keep coarser timestamps (whole seconds: ext3, HFS+, ext4 with 128-byte
 * inodes; two seconds: FAT) show it: every timestamp is a multiple of the granularity. The
 * window is twice the largest of 1 s, 100 ms, 10 ms, 1 ms that divides every mtime and ctime
 * seen, and at least FINE_RACY_WINDOW_NS (20 ms). One timestamp that is not a multiple of
 * 1 ms is proof of a fine clock. With no files at all the window is 2 s (nothing depends on
 * it). Assumes the filesystem's clock is this machine's (a network filesystem whose server
 * clock lags ours by more than the window is not covered, nor is the clock stepped back).
 */
export function racyWindowFor(stats: Iterable<FileStat | StatKey>): bigint {
  let alignment = 1_000_000_000n;
  outer: for (const stat of stats) {
    for (const time of timesOf(stat)) {
      while (alignment >= 1_000_000n && time % alignment !== 0n) alignment /= 10n;
      if (alignment < 1_000_000n) break outer;
    }
  }
  const window = alignment >= 1_000_000n ? 2n * alignment : 0n;
  return window > FINE_RACY_WINDOW_NS ? window : FINE_RACY_WINDOW_NS;
}

/**
 * Where the stat cache of `root` lives in `dir`: one file per root directory, named by a
 * hash of the absolute path (and the casd instance, whose store the digests refer to).
 */
export function statCachePath(dir: string, root: string, instanceName = ''): string {
  const key = createHash('sha256').update(`${instanceName}\0${root}`).digest('hex').slice(0, 32);
  return join(dir, `${key}.json`);
}

function isDecimal(value: unknown): value is string {
  return typeof value === 'string' && /^\d+$/.test(value);
}

function parse(text: string, root: string): StatCacheLoad {
  let data: Partial<StatCacheFile>;
  try {
    data = JSON.parse(text) as Partial<StatCacheFile>;
  } catch {
    return { cache: undefined, reason: 'it is not valid JSON (corrupted)' };
  }
  if (data === null || typeof data !== 'object' || data.format !== FORMAT) {
    return { cache: undefined, reason: 'it is not a stat cache file' };
  }
  if (data.version !== STAT_CACHE_VERSION) {
    return { cache: undefined, reason: `its version ${String(data.version)} is not ${STAT_CACHE_VERSION}` };
  }
  if (data.root !== root) {
    return { cache: undefined, reason: `it was written for ${String(data.root)}, not ${root}` };
  }
  if (
    !isDecimal(data.scanStartNs) ||
    (data.racyWindowNs !== undefined && !isDecimal(data.racyWindowNs)) ||
    !Array.isArray(data.files) ||
    !Array.isArray(data.dirs)
  ) {
    return { cache: undefined, reason: 'its header is incomplete (corrupted)' };
  }
  const files = new Map<string, StatEntry>();
  for (const row of data.files) {
    if (
      !Array.isArray(row) ||
      row.length !== 3 ||
      typeof row[0] !== 'string' ||
      !STAT_KEY_PATTERN.test(String(row[1])) ||
      !HASH_PATTERN.test(String(row[2]))
    ) {
      return {
        cache: undefined,
        reason: `file entry ${JSON.stringify(row).slice(0, 120)} is malformed (corrupted)`,
      };
    }
    files.set(row[0], { stat: row[1], hash: row[2] });
  }
  const dirs = new Map<string, Digest>();
  for (const row of data.dirs) {
    if (
      !Array.isArray(row) ||
      typeof row[0] !== 'string' ||
      !HASH_PATTERN.test(String(row[1])) ||
      !Number.isSafeInteger(row[2])
    ) {
      return {
        cache: undefined,
        reason: `directory entry ${JSON.stringify(row).slice(0, 120)} is malformed (corrupted)`,
      };
    }
    dirs.set(row[0], { hash: row[1], sizeBytes: row[2] });
  }
  const racyWindowNs = data.racyWindowNs === undefined ? undefined : BigInt(data.racyWindowNs);
  return { cache: { root, scanStartNs: BigInt(data.scanStartNs), racyWindowNs, files, dirs } };
}

/**
 * Reads the stat cache at `file` for the directory `root`. Gives `{cache: undefined, reason}`
 * when there is none or it cannot be trusted (another version, another root, corrupted); it
 * never throws, since the caller then simply captures everything.
 */
export async function loadStatCache(file: string, root: string): Promise<StatCacheLoad> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      cache: undefined,
      reason: code === 'ENOENT' ? 'there is none yet' : `it cannot be read (${code})`,
    };
  }
  return parse(text, root);
}

/**
 * Writes `cache` to `file` atomically (a temporary file renamed over it), creating the
 * directory. The rows are written a piece at a time: the text of a 100,000-file cache is
 * ~17 MB, and building it whole (with an array per row) was a good part of a capture's peak.
 * Throws the fs error when it cannot (callers treat that as a warning).
 */
export async function saveStatCache(file: string, cache: StatCache): Promise<void> {
  const header: Omit<StatCacheFile, 'files' | 'dirs'> = {
    format: FORMAT,
    version: STAT_CACHE_VERSION,
    root: cache.root,
    scanStartNs: cache.scanStartNs.toString(),
    racyWindowNs: cache.racyWindowNs?.toString(),
  };
  const dir = join(file, '..');
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const out = await open(tmp, 'w');
  try {
    const opening = JSON.stringify(header);
    await out.write(
      `${opening.slice(0, -1)},"dirs":${JSON.stringify([...cache.dirs].map(([path, d]) => [path, d.hash, d.sizeBytes]))},"files":[`,
    );
    let rows: string[] = [];
    let first = true;
    const flush = async (): Promise<void> => {
      if (rows.length === 0) return;
      await out.write((first ? '' : ',') + rows.join(','));
      first = false;
      rows = [];
    };
    for (const [path, entry] of cache.files) {
      rows.push(`[${JSON.stringify(path)},"${entry.stat}","${entry.hash}"]`);
      if (rows.length >= ROWS_PER_WRITE) await flush();
    }
    await flush();
    await out.write(']}');
    await out.close();
    await rename(tmp, file);
  } catch (err) {
    await out.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Removes the stat cache at `file` (when a capture could not record a trustworthy one). */
export async function removeStatCache(file: string): Promise<void> {
  await rm(file, { force: true });
}
