import { copyFile, link, lstat, mkdir, readdir, stat, utimes } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { PACKS_DIR } from '../../cas/store/pack-files.js';
import { forEachLimit } from '../../util/concurrency.js';
import { BLOB_FILE_CONCURRENCY, SCAN_DIR_CONCURRENCY } from './options.js';

/** Where things live inside the cache directory. */
export interface PersistLayout {
  cacheDir: string;
  objectsDir: string;
  /**
   * Fixed staging paths: @actions/cache hashes the paths it is given into the entry's
   * version, so a pack must be saved and restored through exactly the same path.
   */
  packStaging: string;
  indexStaging: string;
  stagingRoot: string;
  /** The same two paths as handed to @actions/cache (relative to the working directory). */
  packEntryPath: string;
  indexEntryPath: string;
  /** Our own state between restore and save (the post step reads it). */
  stateDir: string;
  /** The local store's pack files (CasStore reads them; see pack-files.ts). */
  packsDir: string;
}

/** Directories of small casd files that travel in the index entry, relative to the cache dir. */
export const SMALL_FILE_ROOTS = ['cas/refs/heads', 'actioncache', 'assets'] as const;

/** The pack manifest inside a staged pack of format 1: one blob hash per line. */
export const PACK_MANIFEST = 'blobs.txt';
/** Where the index entry carries its inline packs (PackRef.inline), beside the manifest. */
export const INLINE_PACKS_DIR = 'packs';
/** Name of the pack file (format 2: `<name>.pack` and `<name>.idx`) inside a staged pack. */
export const STAGED_PACK_NAME = 'pack';
/** The index manifest inside a staged index. */
export const INDEX_MANIFEST = 'index.json';

/** Relative to the working directory when inside it (stable versions); else absolute. */
function entryPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/**
 * Paths used by persistence for a cache directory. @actions/cache hashes the path strings into
 * each entry's version and tars them relative to GITHUB_WORKSPACE, so in a job the staging
 * area sits in the workspace under a fixed relative name: a later job on another runner,
 * whose cache directory or home may differ, still computes the same version. Outside a job
 * (no GITHUB_WORKSPACE) it sits in the cache directory.
 */
export function persistLayout(cacheDir: string, workspace = process.env.GITHUB_WORKSPACE): PersistLayout {
  const stagingRoot = workspace
    ? join(workspace, '.casd-action-persist')
    : join(cacheDir, '.persist-staging');
  const packStaging = join(stagingRoot, 'pack');
  const indexStaging = join(stagingRoot, 'index');
  return {
    cacheDir,
    objectsDir: join(cacheDir, 'cas', 'objects'),
    stagingRoot,
    packStaging,
    indexStaging,
    packEntryPath: entryPath(packStaging),
    indexEntryPath: entryPath(indexStaging),
    stateDir: join(cacheDir, '.persist'),
    packsDir: join(cacheDir, PACKS_DIR),
  };
}

/** casd's object path: `<objects>/<first 2 hex>/<remaining 62 hex>`. */
export function objectPath(objectsDir: string, hash: string): string {
  return join(objectsDir, hash.slice(0, 2), hash.slice(2));
}

const PREFIX_DIR = /^[0-9a-f]{2}$/;
const REST_NAME = /^[0-9a-f]{62}$/;

/**
 * Lists the blobs of a casd object directory as hash -> size in bytes. Names that are not
 * object names (temporary files, strays) are ignored; a missing directory is empty.
 */
export async function scanBlobs(objectsDir: string): Promise<Map<string, number>> {
  const blobs = new Map<string, number>();
  const prefixes = (await readdirOrEmpty(objectsDir)).filter((name) => PREFIX_DIR.test(name));
  await forEachLimit(prefixes, SCAN_DIR_CONCURRENCY, async (prefix) => {
    const names = (await readdirOrEmpty(join(objectsDir, prefix))).filter((name) => REST_NAME.test(name));
    await forEachLimit(names, BLOB_FILE_CONCURRENCY, async (name) => {
      const info = await lstat(join(objectsDir, prefix, name)).catch(() => undefined);
      if (info?.isFile()) blobs.set(prefix + name, info.size);
    });
  });
  return blobs;
}

export interface SmallFile {
  /** Path relative to the cache dir, with `/` separators. */
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
}

/** Every regular file under `SMALL_FILE_ROOTS` of `baseDir`, sorted by relative path. */
export async function listSmallFiles(baseDir: string): Promise<SmallFile[]> {
  const files: SmallFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdirEntries(dir)) {
      const abs = join(dir, entry.name);
      if (entry.isDirectory()) await walk(abs);
      else if (entry.isFile()) {
        const info = await stat(abs);
        files.push({
          rel: relative(baseDir, abs).split(sep).join('/'),
          abs,
          size: info.size,
          mtimeMs: info.mtimeMs,
        });
      }
    }
  };
  for (const root of SMALL_FILE_ROOTS) await walk(join(baseDir, root));
  return files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/**
 * Hard-links `src` to `dst` (creating parents), copying instead where linking is refused
 * (another filesystem, link limits). A copy keeps the source's modification time.
 */
export async function linkOrCopy(src: string, dst: string): Promise<void> {
  await mkdir(join(dst, '..'), { recursive: true });
  try {
    await link(src, dst);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') throw err;
    await copyFile(src, dst);
    const info = await stat(src);
    await utimes(dst, info.atime, info.mtime);
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function readdirEntries(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
