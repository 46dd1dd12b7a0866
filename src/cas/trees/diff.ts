import type { Directory } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type Digest, sameDigest } from '../digest.js';
import type { RefStore } from '../store/refs.js';
import type { CasStore } from '../store/store.js';
import { byName } from './names.js';

/** Paths (`/`-separated, relative to the roots) that differ between two trees. */
export interface TreeDiff {
  /** In both, with different content, executable bit, symlink target or kind (file/symlink). */
  modified: string[];
  /** Only in the first tree. */
  removed: string[];
  /** Only in the second tree. */
  added: string[];
}

/** A leaf: a file or a symlink, with what makes it equal to another. */
interface Leaf {
  name: string;
  identity: string;
}

const EMPTY: Directory = { files: [], directories: [], symlinks: [], nodeProperties: undefined };

function leavesOf(directory: Directory): Leaf[] {
  const leaves: Leaf[] = [
    ...directory.files.map((f) => ({
      name: f.name,
      identity: `f:${f.digest?.hash}:${f.isExecutable ? 'x' : '-'}`,
    })),
    ...directory.symlinks.map((s) => ({ name: s.name, identity: `l:${s.target}` })),
  ];
  return leaves.sort(byName);
}

/**
 * Merge-walks two lists sorted by name, calling `both`, `onlyA` or `onlyB` for each name.
 * Why sort here: REAPI says Directories are sorted, but the store does not insist on it.
 */
async function merge<T extends { name: string }>(
  a: T[],
  b: T[],
  handlers: {
    onlyA(x: T): Promise<void> | void;
    onlyB(y: T): Promise<void> | void;
    both(x: T, y: T): Promise<void> | void;
  },
): Promise<void> {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const order = i >= a.length ? 1 : j >= b.length ? -1 : byName(a[i], b[j]);
    if (order < 0) await handlers.onlyA(a[i++]);
    else if (order > 0) await handlers.onlyB(b[j++]);
    else await handlers.both(a[i++], b[j++]);
  }
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}/${name}`;
}

async function diffDirectories(
  store: CasStore,
  a: Digest | undefined,
  b: Digest | undefined,
  path: string,
  out: TreeDiff,
): Promise<void> {
  const [dirA, dirB] = await Promise.all([
    a ? store.readDirectory(a) : EMPTY,
    b ? store.readDirectory(b) : EMPTY,
  ]);
  await merge(leavesOf(dirA), leavesOf(dirB), {
    onlyA: (x) => void out.removed.push(join(path, x.name)),
    onlyB: (y) => void out.added.push(join(path, y.name)),
    both: (x, y) => {
      if (x.identity !== y.identity) out.modified.push(join(path, x.name));
    },
  });
  await merge([...dirA.directories].sort(byName), [...dirB.directories].sort(byName), {
    onlyA: (x) => diffDirectories(store, x.digest, undefined, join(path, x.name), out),
    onlyB: (y) => diffDirectories(store, undefined, y.digest, join(path, y.name), out),
    // Equal digests mean equal subtrees: only differing ones are read.
    both: (x, y) =>
      sameDigest(x.digest, y.digest)
        ? undefined
        : diffDirectories(store, x.digest, y.digest, join(path, x.name), out),
  });
}

/**
 * Compares the trees `a` and `b` (root Directory digests) and lists the file and symlink
 * paths modified, removed (only in `a`) and added (only in `b`), each list in walk order.
 * Empty directories are not listed. A path that is a file in one tree and a directory in the
 * other shows as removed/added. Only subtrees whose digests differ are read.
 *
 * Throws CasError('blob-not-found') when a needed Directory is not in the local store.
 */
export async function diffTrees(store: CasStore, a: Digest, b: Digest): Promise<TreeDiff> {
  const out: TreeDiff = { modified: [], removed: [], added: [] };
  if (!sameDigest(a, b)) await diffDirectories(store, a, b, '', out);
  return out;
}

/**
 * `diffTrees` between the trees two refs point to (the reference's `diff(ref_a, ref_b)`).
 * Throws CasError('ref-not-found') naming a ref that does not exist.
 */
export async function diffRefs(
  store: CasStore,
  refs: RefStore,
  refA: string,
  refB: string,
): Promise<TreeDiff> {
  const [a, b] = await Promise.all([refs.resolve(refA), refs.resolve(refB)]);
  return diffTrees(store, a, b);
}
