import { lstat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Digest } from '../cas/digest.js';
import type { CasStore } from '../cas/store/store.js';
import { walkTree } from '../cas/trees/tree.js';
import { captureEntries } from '../cas/capture/capture-entries.js';
import { captureIncremental } from '../cas/capture/incremental-capture.js';
import { CasError } from '../errors.js';
import { UsageError } from './command.js';
import type { Progress } from './progress.js';

/** Counts of what a tree holds. */
export interface TreeCounts {
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
}

/**
 * The root entry names of `paths`: their basenames. Throws UsageError for two paths with the
 * same basename (they would collide in the root) or a path without one (`/`).
 */
export function rootNames(paths: string[]): string[] {
  const seen = new Map<string, string>();
  return paths.map((path) => {
    const name = basename(resolve(path));
    if (name === '')
      throw new UsageError(`cannot capture "${path}" as an entry: it has no name; capture it alone`);
    const other = seen.get(name);
    if (other !== undefined) {
      throw new UsageError(
        `"${other}" and "${path}" would both be "${name}" in the captured tree; capture them separately or their common parent`,
      );
    }
    seen.set(name, path);
    return name;
  });
}

/**
 * Captures `paths` into the store. One directory: the tree is that directory. Otherwise a
 * root Directory with one entry per path, named by its basename (files keep their executable
 * bit, symlinks their target). Throws UsageError for colliding names, CasError('invalid-input')
 * for a path that does not exist or is neither a file, a directory nor a symlink.
 */
export async function capturePaths(store: CasStore, paths: string[]): Promise<Digest> {
  const names = rootNames(paths);
  for (const path of paths) {
    const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? 'it does not exist' : err.code;
      throw new CasError('invalid-input', `cannot capture ${path}: ${why}`, { cause: err });
    });
    if (!info.isDirectory() && !info.isFile() && !info.isSymbolicLink()) {
      throw new CasError('invalid-input', `cannot capture ${path}: not a file, directory or symlink`);
    }
    if (paths.length === 1 && info.isDirectory())
      return (await captureIncremental(store, resolve(path))).root;
  }
  const { root } = await captureEntries(
    store,
    paths.map((path, i) => ({ name: names[i], path })),
  );
  return root;
}

/** Counts files, directories, symlinks and file bytes under `root`, feeding `progress`. */
export async function countTree(store: CasStore, root: Digest, progress?: Progress): Promise<TreeCounts> {
  const counts: TreeCounts = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  for await (const entry of walkTree(store, root)) {
    if (entry.kind === 'file') {
      counts.files++;
      counts.bytes += entry.digest?.sizeBytes ?? 0;
      progress?.add(1, entry.digest?.sizeBytes ?? 0);
    } else if (entry.kind === 'directory') counts.directories++;
    else counts.symlinks++;
  }
  return counts;
}
