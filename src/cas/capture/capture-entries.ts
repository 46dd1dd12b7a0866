import { lstat, readlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import type {
  DirectoryNode,
  FileNode,
  SymlinkNode,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Digest } from '../digest.js';
import { captureIncremental } from './incremental-capture.js';
import type { CasStore } from '../store/store.js';
import { byName } from '../trees/names.js';

/** One entry of a root Directory: a path on disk (file, directory or symlink) or bytes. */
export type CaptureEntry = { name: string; path: string } | { name: string; buffer: Uint8Array };

export interface CapturedEntries {
  root: Digest;
  /** Names of path entries that do not exist (or are neither file, directory nor symlink). */
  missing: string[];
}

/**
 * Captures several paths (and in-memory files) as the entries of one root Directory:
 * directories incrementally (only files whose stat changed are hashed), files with their
 * executable bit (owner-executable, as casd decides it), symlinks with their target. Missing
 * paths are skipped and reported. Names must be unique, single path components.
 */
export async function captureEntries(store: CasStore, entries: CaptureEntry[]): Promise<CapturedEntries> {
  const files: FileNode[] = [];
  const directories: DirectoryNode[] = [];
  const symlinks: SymlinkNode[] = [];
  const missing: string[] = [];
  for (const entry of entries) {
    if ('buffer' in entry) {
      const digest = await store.addObject({ buffer: entry.buffer });
      files.push({ name: entry.name, digest, isExecutable: false, nodeProperties: undefined });
      continue;
    }
    const path = resolve(entry.path);
    const info = await lstat(path).catch(() => undefined);
    if (info?.isDirectory()) {
      directories.push({ name: entry.name, digest: (await captureIncremental(store, path)).root });
    } else if (info?.isSymbolicLink()) {
      symlinks.push({ name: entry.name, target: await readlink(path), nodeProperties: undefined });
    } else if (info?.isFile()) {
      const digest = await store.addObject({ path });
      files.push({
        name: entry.name,
        digest,
        isExecutable: (info.mode & 0o100) !== 0,
        nodeProperties: undefined,
      });
    } else {
      missing.push(entry.name);
    }
  }
  // REAPI wants the entries of a Directory sorted by name.
  const root = await store.putDirectory({
    files: files.sort(byName),
    directories: directories.sort(byName),
    symlinks: symlinks.sort(byName),
    nodeProperties: undefined,
  });
  return { root, missing };
}
