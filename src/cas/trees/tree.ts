import { CasError } from '../../errors.js';
import type { Directory } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Digest } from '../digest.js';
import { TREE_READ_AHEAD } from '../options.js';

/**
 * What a tree walk reads Directories from (CasStore is one). Why an interface: the store
 * itself walks trees, so the walk must not import it back.
 */
export interface DirectoryReader {
  readDirectory(digest: Digest): Promise<Directory>;
}

/**
 * A set of digests keyed by the 32 raw bytes of the hash (held as a one-byte string), about
 * half the memory of hex keys: a million-blob walk keeps one entry per distinct blob.
 */
export class DigestSet {
  private readonly keys = new Set<string>();

  /** Adds `digest`; returns true when it was not in the set yet. */
  add(digest: Digest): boolean {
    const key = Buffer.from(digest.hash, 'hex').toString('latin1');
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    return true;
  }

  has(digest: Digest): boolean {
    return this.keys.has(Buffer.from(digest.hash, 'hex').toString('latin1'));
  }

  get size(): number {
    return this.keys.size;
  }
}

/** One Directory reached by a walk, with its path from the root ("" for the root). */
export interface VisitedDirectory {
  path: string;
  digest: Digest;
  directory: Directory;
}

/** Adds the hashes of `visited`'s Directory and of its files to `into`. */
export function addTreeBlobHashes(into: Set<string>, visited: VisitedDirectory): void {
  into.add(visited.digest.hash);
  for (const file of visited.directory.files) if (file.digest) into.add(file.digest.hash);
}

export interface WalkOptions {
  /**
   * Subdirectories to leave out, as `/`-separated paths relative to the root (`a` is the
   * top-level `a` only; `a/b` is `b` inside `a`). Their Directory is neither read nor listed.
   */
  excludeSubdirs?: string[];
  /** Visit each distinct Directory once (by digest), even when it appears at several paths. */
  dedupe?: boolean;
  /** Called for a Directory missing from the store, which is then skipped; without it, a missing one throws. */
  onMissing?: (digest: Digest, path: string) => void;
  /** Directory blobs read ahead of the consumer (default 32). */
  readAhead?: number;
}

function normaliseExcludes(paths: string[] | undefined): Set<string> {
  return new Set((paths ?? []).map((p) => p.split('/').filter(Boolean).join('/')).filter(Boolean));
}

function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/**
 * Walks the Directories reachable from `root`, depth first in name order, yielding each with
 * its path. Every Directory is validated as it is read (see CasStore.readDirectory), and a
 * bounded number are read ahead. Memory stays proportional to the pending frontier, not to
 * the tree: a million-file tree streams.
 *
 * Throws CasError('blob-not-found' | 'corrupt-data' | 'unsafe-tree') from the reads.
 */
export async function* walkDirectories(
  store: DirectoryReader,
  root: Digest,
  options: WalkOptions = {},
): AsyncGenerator<VisitedDirectory> {
  const excluded = normaliseExcludes(options.excludeSubdirs);
  const seen = options.dedupe ? new DigestSet() : undefined;
  const readAhead = Math.max(1, options.readAhead ?? TREE_READ_AHEAD);
  seen?.add(root);
  // A stack (depth first) keeps the frontier small; children are pushed in reverse so that
  // they come off in the order the Directory lists them.
  const stack: { path: string; digest: Digest }[] = [{ path: '', digest: root }];
  const inFlight: { path: string; digest: Digest; read: Promise<Directory | undefined> }[] = [];

  const read = async (path: string, digest: Digest): Promise<Directory | undefined> => {
    try {
      return await store.readDirectory(digest);
    } catch (err) {
      if (options.onMissing && err instanceof CasError && err.reason === 'blob-not-found') {
        options.onMissing(digest, path);
        return undefined;
      }
      throw err;
    }
  };
  const fill = (): void => {
    while (inFlight.length < readAhead && stack.length > 0) {
      const next = stack.pop() as { path: string; digest: Digest };
      const pending = read(next.path, next.digest);
      // Handled when its turn comes; this only stops an early exit leaving it unhandled.
      pending.catch(() => undefined);
      inFlight.push({ ...next, read: pending });
    }
  };

  fill();
  while (inFlight.length > 0) {
    const current = inFlight.shift() as (typeof inFlight)[number];
    const directory = await current.read;
    if (directory) {
      for (let i = directory.directories.length - 1; i >= 0; i--) {
        const child = directory.directories[i];
        const path = joinPath(current.path, child.name);
        if (excluded.has(path)) continue;
        const digest = child.digest as Digest; // validateDirectory guarantees it is set
        if (seen && !seen.add(digest)) continue;
        stack.push({ path, digest });
      }
    }
    fill();
    if (directory) yield { path: current.path, digest: current.digest, directory };
  }
}

/** One entry of a tree, as `walkTree` yields it. */
export interface TreeEntry {
  /** `/`-separated path from the root. */
  path: string;
  kind: 'file' | 'directory' | 'symlink';
  /** Files and directories. */
  digest?: Digest;
  /** Files. */
  isExecutable?: boolean;
  /** Symlinks. */
  target?: string;
}

/**
 * Yields every file, directory and symlink below `root` (the root itself excluded), each
 * Directory's entries together, depth first. Excluded subdirectories are left out entirely.
 * Throws like walkDirectories.
 */
export async function* walkTree(
  store: DirectoryReader,
  root: Digest,
  options: { excludeSubdirs?: string[] } = {},
): AsyncGenerator<TreeEntry> {
  const excluded = normaliseExcludes(options.excludeSubdirs);
  for await (const { path, directory } of walkDirectories(store, root, options)) {
    for (const dir of directory.directories) {
      const childPath = joinPath(path, dir.name);
      if (!excluded.has(childPath)) yield { path: childPath, kind: 'directory', digest: dir.digest };
    }
    for (const file of directory.files) {
      yield {
        path: joinPath(path, file.name),
        kind: 'file',
        digest: file.digest,
        isExecutable: file.isExecutable,
      };
    }
    for (const link of directory.symlinks) {
      yield { path: joinPath(path, link.name), kind: 'symlink', target: link.target };
    }
  }
}

/**
 * Every blob needed to hold the tree `root`: each Directory digest (the root first) and each
 * file digest, each once. Streams: Directories are read as the consumer pulls, with a bounded
 * read-ahead, and only the set of hashes already yielded is kept.
 *
 * `excludeSubdirs` (paths relative to the root) leaves those subtrees out; the Directory that
 * lists them is still yielded. Throws CasError('blob-not-found') when a Directory is missing
 * locally, 'corrupt-data' or 'unsafe-tree' when one is broken or hostile.
 */
export function requiredBlobs(
  store: DirectoryReader,
  root: Digest,
  options?: { excludeSubdirs?: string[] },
): AsyncIterable<Digest> {
  return (async function* () {
    const files = new DigestSet();
    const directories = new DigestSet();
    for await (const { digest, directory } of walkDirectories(store, root, {
      excludeSubdirs: options?.excludeSubdirs,
      dedupe: true,
    })) {
      directories.add(digest);
      if (!files.has(digest)) yield digest;
      for (const file of directory.files) {
        const fileDigest = file.digest as Digest;
        if (!directories.has(fileDigest) && files.add(fileDigest)) yield fileDigest;
      }
    }
  })();
}
