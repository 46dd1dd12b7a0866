import { lstat, mkdir, readFile, readdir, rename, rm, copyFile, chmod } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CasError } from '../errors.js';
import {
  Directory,
  type DirectoryNode,
  type FileNode,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { checkout } from '../cas/checkout.js';
import { captureIncremental } from '../cas/incremental-capture.js';
import type { Digest } from '../cas/digest.js';
import { type SeedStatCacheResult, seedStatCache, wallClockNs } from '../cas/stat-seed.js';
import type { CasStore } from '../cas/store.js';
import type { VisitedDirectory } from '../cas/tree.js';
import { type Logger, silentLogger } from '../logger.js';

/**
 * An actions/cache-style entry is one tree: entry `i` holds the i-th path (a directory or a
 * file) and `paths.json` lists the paths, so a restore with other paths is a miss, as the
 * version check of actions/cache makes it.
 */
const MANIFEST = 'paths.json';

export interface CapturedPaths {
  root: Digest;
  captured: string[];
  missing: string[];
}

/** Captures `paths` into one tree (see above). Paths that do not exist are skipped and listed. */
export async function capturePaths(store: CasStore, paths: string[]): Promise<CapturedPaths> {
  const files: FileNode[] = [];
  const directories: DirectoryNode[] = [];
  const captured: string[] = [];
  const missing: string[] = [];
  for (const [index, path] of paths.entries()) {
    const absolute = resolve(path);
    const stats = await lstat(absolute).catch(() => undefined);
    if (!stats) {
      missing.push(path);
      continue;
    }
    const name = String(index);
    if (stats.isDirectory()) {
      // Only files whose stat changed since the last capture are hashed again.
      directories.push({ name, digest: (await captureIncremental(store, absolute)).root });
    } else if (stats.isFile()) {
      const digest = await store.addObject({ path: absolute });
      files.push({ name, digest, isExecutable: (stats.mode & 0o111) !== 0, nodeProperties: undefined });
    } else {
      missing.push(path);
      continue;
    }
    captured.push(path);
  }
  // Paths as the user wrote them (relative to the workspace), like actions/cache, so that a
  // restore on another runner whose workspace lives elsewhere still matches.
  const manifest = Buffer.from(JSON.stringify(paths));
  files.push({
    name: MANIFEST,
    digest: await store.addObject({ buffer: manifest }),
    isExecutable: false,
    nodeProperties: undefined,
  });
  // REAPI wants entries sorted by name; indexes sort as strings, which is all that matters.
  files.sort((a, b) => (a.name < b.name ? -1 : 1));
  directories.sort((a, b) => (a.name < b.name ? -1 : 1));
  const root = await store.putDirectory({ files, directories, symlinks: [], nodeProperties: undefined });
  return { root, captured, missing };
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
 * Restores a tree made by capturePaths to `paths` (directories through stageDirectory, with
 * `options`: copies by default, the stat cache seeded). Returns false, writing nothing, when
 * the tree was saved for other paths. Throws CasError when blobs are missing or the tree is
 * unsafe.
 */
export async function restorePaths(
  store: CasStore,
  root: Digest,
  paths: string[],
  options: StageOptions = {},
): Promise<boolean> {
  const directory: Directory = await store.readDirectory(root);
  const manifestNode = directory.files.find((f) => f.name === MANIFEST);
  if (!manifestNode?.digest) throw new CasError('corrupt-data', 'the cached tree has no paths.json');
  const saved = JSON.parse(await readFile(store.objectPath(manifestNode.digest), 'utf8')) as string[];
  if (JSON.stringify(saved) !== JSON.stringify(paths)) return false;
  for (const [index, path] of paths.map((p) => resolve(p)).entries()) {
    const name = String(index);
    const dir = directory.directories.find((d) => d.name === name);
    const file = directory.files.find((f) => f.name === name);
    if (dir?.digest) {
      await stageDirectory(store, dir.digest, path, options);
    } else if (file?.digest) {
      await mkdir(dirname(path), { recursive: true });
      await rm(path, { force: true });
      await copyFile(store.objectPath(file.digest), path);
      await chmod(path, file.isExecutable ? 0o755 : 0o644);
    }
  }
  return true;
}
