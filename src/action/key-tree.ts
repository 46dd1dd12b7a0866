import {
  lstat,
  mkdir,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  copyFile,
  chmod,
  symlink,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CasError } from '../errors.js';
import {
  Directory,
  type DirectoryNode,
  type FileNode,
  type SymlinkNode,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { checkout } from '../cas/checkout.js';
import { captureIncremental } from '../cas/incremental-capture.js';
import { type Digest, digestOfBuffer, formatDigest } from '../cas/digest.js';
import { type SeedStatCacheResult, seedStatCache, wallClockNs } from '../cas/stat-seed.js';
import type { CasStore } from '../cas/store.js';
import type { VisitedDirectory } from '../cas/tree.js';
import { type Logger, silentLogger } from '../logger.js';
import { type CachePath, type PathRoots, absolutePath, checkRecordedPaths } from './cache-paths.js';
import {
  ENTRY_MANIFEST,
  type EntryInfo,
  type EntryManifest,
  encodeManifest,
  entryContentId,
  manifestNode,
  parseManifest,
  samePatterns,
} from './entry-manifest.js';

export interface CapturedPaths {
  root: Digest;
  /** What the entry holds, without its save time (see entryContentId). */
  contentId: string;
  captured: CachePath[];
  /** Matched paths gone by the time of the capture, or neither file, directory nor symlink. */
  missing: CachePath[];
}

/** What to save: the key, the `path` lines, and what they matched (resolvePatterns). */
export interface EntrySpec {
  key: string;
  patterns: string[];
  paths: CachePath[];
}

/**
 * Captures the paths of `spec` into one entry tree (see entry-manifest.ts), directories
 * incrementally (only files whose stat changed since the last capture are hashed again).
 * `savedAtMs` is recorded as the save time (default now).
 */
export async function capturePaths(
  store: CasStore,
  spec: EntrySpec,
  roots: PathRoots,
  savedAtMs = Date.now(),
): Promise<CapturedPaths> {
  const files: FileNode[] = [];
  const directories: DirectoryNode[] = [];
  const symlinks: SymlinkNode[] = [];
  const captured: CachePath[] = [];
  const missing: CachePath[] = [];
  for (const path of spec.paths) {
    const absolute = absolutePath(path, roots);
    const stats = await lstat(absolute).catch(() => undefined);
    // Entries are numbered among the captured paths: entry i is captured[i].
    const name = String(captured.length);
    if (stats?.isDirectory()) {
      directories.push({ name, digest: (await captureIncremental(store, absolute)).root });
    } else if (stats?.isFile()) {
      const digest = await store.addObject({ path: absolute });
      files.push({ name, digest, isExecutable: (stats.mode & 0o111) !== 0, nodeProperties: undefined });
    } else if (stats?.isSymbolicLink()) {
      // As tar keeps a matched symlink (actions/cache): the link, not what it points to.
      symlinks.push({ name, target: await readlink(absolute), nodeProperties: undefined });
    } else {
      missing.push(path);
      continue;
    }
    captured.push(path);
  }
  const manifest: EntryManifest = {
    version: 2,
    key: spec.key,
    patterns: spec.patterns,
    paths: captured,
    savedAtMs,
  };
  files.push({
    name: ENTRY_MANIFEST,
    digest: await store.addObject({ buffer: encodeManifest(manifest) }),
    isExecutable: false,
    nodeProperties: undefined,
  });
  // REAPI wants entries sorted by name; indexes sort as strings, which is all that matters.
  const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : 1);
  files.sort(byName);
  directories.sort(byName);
  symlinks.sort(byName);
  const directory: Directory = { files, directories, symlinks, nodeProperties: undefined };
  const root = await store.putDirectory(directory);
  return { root, contentId: entryContentId(directory, manifest), captured, missing };
}

/**
 * Reads the manifest of entry tree `root` from the local cache, with the root Directory.
 * Throws CasError('blob-not-found') when either is not local, 'corrupt-data' when the tree
 * has no manifest or a broken one.
 */
export async function readEntry(
  store: CasStore,
  root: Digest,
): Promise<{ directory: Directory; entry: EntryInfo }> {
  const directory = await store.readDirectory(root);
  const node = manifestNode(directory);
  if (!node?.digest) {
    throw new CasError('corrupt-data', `cache entry ${formatDigest(root)} has no ${ENTRY_MANIFEST}`);
  }
  let data: Buffer;
  try {
    data = await readFile(store.objectPath(node.digest));
  } catch (err) {
    throw new CasError(
      'blob-not-found',
      `the ${node.name} of cache entry ${formatDigest(root)} is not in the local cache`,
      { cause: err },
    );
  }
  if (digestOfBuffer(data).hash !== node.digest.hash) {
    throw new CasError('corrupt-data', `the ${node.name} of cache entry ${formatDigest(root)} is corrupt`);
  }
  return { directory, entry: parseManifest(node.name, data, formatDigest(root)) };
}

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
    onDirectory: seed ? (v: VisitedDirectory) => visited.push(v) : undefined,
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

/**
 * Restores entry tree `root` (see capturePaths) for the `path` lines `patterns`: each recorded
 * path where it belongs on this runner (directories through stageDirectory, with `options`:
 * copies by default, the stat cache seeded). Returns false, writing nothing, when the entry was
 * saved for other patterns. Throws CasError when blobs are missing, or 'unsafe-tree' when the
 * tree or its recorded paths are unsafe (checkRecordedPaths), before anything is written.
 */
export async function restorePaths(
  store: CasStore,
  root: Digest,
  patterns: string[],
  roots: PathRoots,
  options: StageOptions = {},
): Promise<boolean> {
  const { directory, entry } = await readEntry(store, root);
  if (!samePatterns(entry.patterns, patterns)) return false;
  checkRecordedPaths(entry.paths, patterns, roots);
  for (const [index, recorded] of entry.paths.entries()) {
    const path = absolutePath(recorded, roots);
    const name = String(index);
    const dir = directory.directories.find((d) => d.name === name);
    const file = directory.files.find((f) => f.name === name);
    const link = directory.symlinks.find((l) => l.name === name);
    if (dir?.digest) {
      await stageDirectory(store, dir.digest, path, options);
    } else if (file?.digest) {
      await mkdir(dirname(path), { recursive: true });
      await rm(path, { force: true });
      await copyFile(store.objectPath(file.digest), path);
      await chmod(path, file.isExecutable ? 0o755 : 0o644);
    } else if (link) {
      await mkdir(dirname(path), { recursive: true });
      await rm(path, { force: true });
      await symlink(link.target, path);
    }
  }
  return true;
}
