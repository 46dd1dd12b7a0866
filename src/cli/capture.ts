import { lstat, readlink } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Digest } from '../cas/digest.js';
import type { CasStore } from '../cas/store.js';
import { walkTree } from '../cas/tree.js';
import { CasError } from '../errors.js';
import type {
  DirectoryNode,
  FileNode,
  SymlinkNode,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { UsageError } from './command.js';
import type { Progress } from './progress.js';

/** Counts of what a tree holds. */
export interface TreeCounts {
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
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
  const stats = await Promise.all(
    paths.map(async (path) => {
      const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
        throw new CasError(
          'invalid-input',
          `cannot capture ${path}: ${err.code === 'ENOENT' ? 'it does not exist' : err.code}`,
          {
            cause: err,
          },
        );
      });
      if (!info.isDirectory() && !info.isFile() && !info.isSymbolicLink()) {
        throw new CasError('invalid-input', `cannot capture ${path}: not a file, directory or symlink`);
      }
      return info;
    }),
  );
  if (paths.length === 1 && stats[0].isDirectory()) return store.importDirectory(paths[0]);
  const files: FileNode[] = [];
  const directories: DirectoryNode[] = [];
  const symlinks: SymlinkNode[] = [];
  for (const [i, path] of paths.entries()) {
    const name = names[i];
    const info = stats[i];
    if (info.isDirectory()) {
      directories.push({ name, digest: await store.importDirectory(path) });
    } else if (info.isSymbolicLink()) {
      symlinks.push({ name, target: await readlink(path), nodeProperties: undefined });
    } else {
      const digest = await store.addObject({ path });
      files.push({ name, digest, isExecutable: (info.mode & 0o111) !== 0, nodeProperties: undefined });
    }
  }
  // REAPI: entries sorted by name.
  return store.putDirectory({
    files: files.sort(byName),
    directories: directories.sort(byName),
    symlinks: symlinks.sort(byName),
    nodeProperties: undefined,
  });
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
