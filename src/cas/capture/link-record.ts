import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type FileStat, statCachePath } from './stat-cache.js';

/**
 * A link record: the files of one restored directory that are hard links to objects of the
 * store (checkout's `link`), with the stat their shared inode had when recorded. Kept beside
 * the directory's stat cache (`<hash of the path>.links.json`) and, unlike it, left alone by
 * captures: a write through a link changes casd's object, and the post step must find it
 * (checkLinkedFiles) before anything is captured, pushed or persisted.
 */

const FORMAT = 'casd-action-link-record';
/** Bumped whenever the layout or the meaning of a field changes; other versions are ignored. */
export const LINK_RECORD_VERSION = 1;
const SUFFIX = '.links.json';
const HASH_PATTERN = /^[0-9a-f]{64}$/;

/** One linked file: its path, the object it shares its inode with, and that inode's stat. */
export interface LinkedFile extends FileStat {
  /** `/`-separated path relative to the record's root. */
  path: string;
  /** The object's hash; the object's size is `size` (recorded from the intact inode). */
  hash: string;
  /**
   * The stat was taken within the racy window of the inode's last change (see racyWindowFor),
   * so an equal stat later proves nothing: the object is hashed at the next check regardless.
   */
  racy: boolean;
}

export interface LinkRecord {
  /** The absolute path of the restored directory. */
  root: string;
  files: LinkedFile[];
}

type Row = [string, string, string, string, string, string, string, number];

/** Where the link record of `root` lives in the stat cache directory `dir`. */
export function linkRecordPath(dir: string, root: string, instanceName = ''): string {
  return statCachePath(dir, root, instanceName).replace(/\.json$/, SUFFIX);
}

/** Every link record file in `dir` (none when it does not exist). */
export async function listLinkRecords(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => name.endsWith(SUFFIX)).map((name) => join(dir, name));
}

function isDecimal(value: unknown): value is string {
  return typeof value === 'string' && /^\d+$/.test(value);
}

/**
 * Reads the link record at `file`. Gives `{record: undefined, reason}` when there is none or
 * it cannot be trusted (another version, corrupted); never throws.
 */
export async function loadLinkRecord(
  file: string,
): Promise<{ record: LinkRecord } | { record: undefined; reason: string }> {
  let data: { format?: unknown; version?: unknown; root?: unknown; files?: unknown };
  try {
    data = JSON.parse(await readFile(file, 'utf8')) as typeof data;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { record: undefined, reason: 'there is none' };
    return { record: undefined, reason: code ? `it cannot be read (${code})` : 'it is not valid JSON' };
  }
  if (data?.format !== FORMAT || data.version !== LINK_RECORD_VERSION) {
    return { record: undefined, reason: 'it is not a link record of this version' };
  }
  if (typeof data.root !== 'string' || !Array.isArray(data.files)) {
    return { record: undefined, reason: 'its header is incomplete (corrupted)' };
  }
  const files: LinkedFile[] = [];
  for (const row of data.files as unknown[]) {
    if (
      !Array.isArray(row) ||
      row.length !== 8 ||
      typeof row[0] !== 'string' ||
      !HASH_PATTERN.test(String(row[1])) ||
      !row.slice(2, 7).every(isDecimal) ||
      (row[7] !== 0 && row[7] !== 1)
    ) {
      return { record: undefined, reason: `entry ${JSON.stringify(row).slice(0, 120)} is malformed` };
    }
    const [path, hash, size, mtimeNs, ctimeNs, ino, mode, racy] = row as Row;
    files.push({ path, hash, size, mtimeNs, ctimeNs, ino, mode, racy: racy === 1 });
  }
  return { record: { root: data.root, files } };
}

/**
 * Writes `record` to `file` atomically (a temporary file renamed over it), creating the
 * directory; a record without files removes `file` instead. Throws the fs error.
 */
export async function saveLinkRecord(file: string, record: LinkRecord): Promise<void> {
  if (record.files.length === 0) {
    await rm(file, { force: true });
    return;
  }
  const rows: Row[] = record.files.map((f) => [
    f.path,
    f.hash,
    f.size,
    f.mtimeNs,
    f.ctimeNs,
    f.ino,
    f.mode,
    f.racy ? 1 : 0,
  ]);
  await mkdir(join(file, '..'), { recursive: true });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(
      tmp,
      JSON.stringify({ format: FORMAT, version: LINK_RECORD_VERSION, root: record.root, files: rows }),
    );
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Removes the link record at `file`, if any. */
export async function removeLinkRecord(file: string): Promise<void> {
  await rm(file, { force: true });
}

/**
 * Records `linked` (files just restored into `root` as links) in the link record at `file`,
 * keeping the entries of an earlier restore for paths this one did not write (`restored`
 * lists every file it wrote, linked or copied): a restore merged into a directory leaves
 * those files as they were. Throws the fs error when the record cannot be written.
 */
export async function updateLinkRecord(
  file: string,
  root: string,
  linked: LinkedFile[],
  restored: ReadonlySet<string>,
): Promise<void> {
  const loaded = await loadLinkRecord(file);
  const kept = (loaded.record?.root === root ? loaded.record.files : []).filter((f) => !restored.has(f.path));
  if (kept.length === 0 && linked.length === 0 && !loaded.record) return;
  await saveLinkRecord(file, { root, files: [...kept, ...linked] });
}

/** The stat cache file that the link record `file` sits beside (same root, same instance). */
export function statCacheOfLinkRecord(file: string): string {
  return `${file.slice(0, -SUFFIX.length)}.json`;
}
