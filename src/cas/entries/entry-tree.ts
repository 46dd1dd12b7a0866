import { lstat, mkdir, readlink, rm, symlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CasError } from '../../errors.js';
import {
  Directory,
  type DirectoryNode,
  type FileNode,
  type SymlinkNode,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type Digest, digestOfBuffer, formatDigest } from '../digest.js';
import { type IncrementalCaptureOptions, captureIncremental } from '../capture/incremental-capture.js';
import { RemoteFileWriter } from '../trees/remote-files.js';
import type { CasStore } from '../store/store.js';
import {
  ENTRY_MANIFEST,
  type EntryInfo,
  type EntryManifest,
  encodeManifest,
  entryContentId,
  manifestNode,
  parseManifest,
  samePatterns,
} from './manifest.js';
import { type CachePath, type PathRoots, absolutePath, checkRecordedPaths } from './paths.js';
import { type StageOptions, stageDirectory } from './stage.js';

export interface CapturedPaths {
  root: Digest;
  /** What the entry holds, without its save time (see entryContentId). */
  contentId: string;
  captured: CachePath[];
  /** Matched paths gone by the time of the capture, or neither file, directory nor symlink. */
  missing: CachePath[];
  /**
   * The two blobs of the entry itself (its manifest and root Directory), not yet in the
   * store: storeEntry puts them there before the entry is published. Why not at once: an
   * unchanged capture (same contentId, new save time) is not published, and left in the store
   * they would be new blobs to persist after every job.
   */
  entryBlobs: { digest: Digest; data: Uint8Array }[];
}

/** Stores the entry blobs of `captured` (see CapturedPaths.entryBlobs). */
export async function storeEntry(store: CasStore, captured: CapturedPaths): Promise<void> {
  for (const blob of captured.entryBlobs) await store.addObject({ buffer: blob.data });
}

/** What to save: the key, the `path` lines, and what they matched (resolvePatterns). */
export interface EntrySpec {
  key: string;
  patterns: string[];
  paths: CachePath[];
}

/**
 * Captures the paths of `spec` into one entry tree (see manifest.ts), directories
 * incrementally (only files whose stat changed since the last capture are hashed again), or,
 * with `intoPack`, a directory without a stat cache into a pack of the local store
 * (IncrementalCaptureOptions.intoPack). `savedAtMs` is recorded as the save time (default now).
 */
export async function capturePaths(
  store: CasStore,
  spec: EntrySpec,
  roots: PathRoots,
  savedAtMs = Date.now(),
  options: Pick<IncrementalCaptureOptions, 'intoPack' | 'packMaxBytes' | 'remoteMissingBlobs'> = {},
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
      const done = await captureIncremental(store, absolute, options);
      directories.push({ name, digest: done.root });
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
  const manifestData = encodeManifest(manifest);
  const manifestDigest = digestOfBuffer(manifestData);
  files.push({
    name: ENTRY_MANIFEST,
    digest: manifestDigest,
    isExecutable: false,
    nodeProperties: undefined,
  });
  // REAPI wants entries sorted by name; indexes sort as strings, which is all that matters.
  const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : 1);
  files.sort(byName);
  directories.sort(byName);
  symlinks.sort(byName);
  const directory: Directory = { files, directories, symlinks, nodeProperties: undefined };
  const rootData = Directory.encode(directory).finish();
  const root = digestOfBuffer(rootData);
  return {
    root,
    contentId: entryContentId(directory, manifest),
    captured,
    missing,
    entryBlobs: [
      { digest: manifestDigest, data: manifestData },
      { digest: root, data: rootData },
    ],
  };
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
    data = await store.readBlob(node.digest);
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
  // The entry's own Directory too (its manifest, its single files), as a checkout's are.
  options.onDirectory?.({ path: '', digest: root, directory });
  // Files the local store lacks, straight from the remote (StageOptions.remote), together.
  const fromRemote = options.remote ? new RemoteFileWriter(options.remote) : undefined;
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
      const mode = file.isExecutable ? 0o755 : 0o644;
      if (fromRemote && !store.hasBlob(file.digest)) fromRemote.add(file.digest, path, mode);
      else await store.copyBlobTo(file.digest, path, mode);
    } else if (link) {
      await mkdir(dirname(path), { recursive: true });
      await rm(path, { force: true });
      await symlink(link.target, path);
    }
  }
  await fromRemote?.finish();
  return true;
}
