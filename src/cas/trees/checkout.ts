import { mkdirSync } from 'node:fs';
import { link, lstat, mkdir, readdir, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CasError } from '../../errors.js';
import { forEachLimit } from '../../util/concurrency.js';
import { type Digest, formatDigest } from '../digest.js';
import { CHECKOUT_CONCURRENCY, CHECKOUT_KEEP_FILE_ENTRIES } from '../options.js';
import type { CasStore } from '../store/store.js';
import type { CasClient } from '../remote/cas-client.js';
import { RemoteFileWriter } from './remote-files.js';
import { DigestSet, type VisitedDirectory, walkDirectories } from './tree.js';

export { stageTree, type StagedTree } from '../store/local-cas.js';

/** Files written at once by default (see CHECKOUT_CONCURRENCY in options.ts). */
export const DEFAULT_CONCURRENCY = CHECKOUT_CONCURRENCY;

export interface CheckoutOptions {
  /**
   * Hard-link non-executable files from the object store instead of copying them. Linked
   * files share their inode with casd's object: they are read-only (mode 0444) and MUST NOT
   * be modified (chmod or write), or the store is corrupted; root writes through the 0444
   * mode. seedStatCache records the links so that checkLinkedFiles finds such a write (the
   * action's post step runs it), and verifyStore finds any damaged object. Executable files
   * are always copied, since their mode would have to change on that shared inode. A link
   * that fails (another filesystem, too many links) falls back to a copy.
   */
  link?: boolean;
  /** Files written at once (default DEFAULT_CONCURRENCY). */
  concurrency?: number;
  /**
   * Called with each Directory of the tree (and its path) as it is checked out, parents
   * first: lets a caller record the tree (seedStatCache) without reading it again.
   */
  onDirectory?: (visited: VisitedDirectory) => void;
  /** Called after each file is written, with its size: for progress lines. */
  onFile?: (sizeBytes: number) => void;
  /**
   * Files whose blobs the local store lacks are read from this remote straight into place
   * (RemoteFileWriter), not refused: the caller has checked that it holds them (bringLocal's
   * `filesFromRemote`). Nothing of them enters the local store.
   */
  remote?: CasClient;
}

/** Statistics of one checkout. */
export interface CheckoutResult {
  files: number;
  linked: number;
  directories: number;
  symlinks: number;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** Makes `dest` an empty directory, refusing a symlink, a non-directory or a non-empty one. */
async function prepareDestination(dest: string): Promise<void> {
  let info;
  try {
    info = await lstat(dest);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') {
      throw new CasError('io', `cannot inspect checkout destination ${dest}: ${errnoOf(err)}`, {
        cause: err,
      });
    }
  }
  if (info?.isSymbolicLink()) {
    throw new CasError(
      'invalid-input',
      `checkout destination ${dest} is a symlink; refusing to write through it`,
    );
  }
  if (info && !info.isDirectory()) {
    throw new CasError('invalid-input', `checkout destination ${dest} exists and is not a directory`);
  }
  if (info && (await readdir(dest)).length > 0) {
    throw new CasError(
      'invalid-input',
      `checkout destination ${dest} is not empty; give an empty or new directory`,
    );
  }
  if (!info) await mkdir(dest, { recursive: true });
}

/**
 * First pass: reads (and so validates) every Directory and checks that every file blob is
 * in the store, so that nothing is written for a tree that is hostile or incomplete. Gives
 * the Directories read, in walk order (parents first), while they hold at most
 * CHECKOUT_KEEP_FILE_ENTRIES files; undefined beyond (the second pass then walks again).
 */
async function verifyTree(
  store: CasStore,
  root: Digest,
  remote: CasClient | undefined,
): Promise<VisitedDirectory[] | undefined> {
  let missing = 0;
  let example: Digest | undefined;
  let kept: VisitedDirectory[] | undefined = [];
  let entries = 0;
  const checked = new DigestSet();
  for await (const visited of walkDirectories(store, root)) {
    for (const file of visited.directory.files) {
      const digest = file.digest as Digest;
      // Why synchronous: an existence check of a cached inode costs microseconds; 10,000
      // async calls through libuv's thread pool cost ~170 ms (profiled).
      if (checked.add(digest) && !remote && !store.hasBlob(digest)) {
        missing++;
        example ??= digest;
      }
    }
    entries += visited.directory.files.length + visited.directory.symlinks.length + 1;
    if (entries > CHECKOUT_KEEP_FILE_ENTRIES) kept = undefined;
    kept?.push(visited);
  }
  if (missing > 0) {
    throw new CasError(
      'blob-not-found',
      `cannot check out tree ${formatDigest(root)}: ${missing} file blob(s) are missing from the local cache (e.g. ${formatDigest(example as Digest)}); fetch them first`,
    );
  }
  return kept;
}

type Job =
  | { kind: 'file'; path: string; digest: Digest; executable: boolean }
  | { kind: 'symlink'; path: string; target: string };

/**
 * Materialises the tree `root` at `dest`, which must be empty or not exist (and not a
 * symlink). The whole tree is validated and checked for missing blobs first: on a hostile
 * or incomplete tree nothing is written. Files get mode 0755 when executable, else 0644
 * (0444 when hard-linked, see `link`); symlinks are created as they are, absolute targets
 * included, and never followed.
 *
 * Throws CasError('unsafe-tree') for unsafe names, 'blob-not-found' with the count of
 * missing blobs, 'invalid-input' for a bad destination.
 */
export async function checkout(
  store: CasStore,
  root: Digest,
  dest: string,
  options: CheckoutOptions = {},
): Promise<CheckoutResult> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const base = resolve(dest);
  const verified = await verifyTree(store, root, options.remote);
  const fromRemote = options.remote ? new RemoteFileWriter(options.remote, options.onFile) : undefined;
  await prepareDestination(base);

  const result: CheckoutResult = { files: 0, linked: 0, directories: 0, symlinks: 0 };
  // Directories are created in walk order, each before anything inside it; every name was
  // validated and is unique within its Directory, and mkdir/link/copy/symlink all refuse to
  // replace an existing entry, so nothing can be written through a link.
  const jobs = async function* (): AsyncGenerator<Job> {
    for await (const visited of verified ?? walkDirectories(store, root)) {
      options.onDirectory?.(visited);
      const { path, directory } = visited;
      const here = path === '' ? base : join(base, ...path.split('/'));
      for (const dir of directory.directories) {
        // Why synchronous: a mkdir costs tens of microseconds; a thread-pool round trip
        // each, awaited in walk order, would hold up the file copies behind it.
        mkdirDirectory(join(here, dir.name), root);
        result.directories++;
      }
      for (const file of directory.files) {
        yield {
          kind: 'file',
          path: join(here, file.name),
          digest: file.digest as Digest,
          executable: file.isExecutable,
        };
      }
      for (const link of directory.symlinks) {
        yield { kind: 'symlink', path: join(here, link.name), target: link.target };
      }
    }
  };

  await forEachLimit(jobs(), concurrency, async (job) => {
    try {
      if (job.kind === 'symlink') {
        await symlink(job.target, job.path);
        result.symlinks++;
        return;
      }
      result.files++;
      if (fromRemote && !store.hasBlob(job.digest)) {
        fromRemote.add(job.digest, job.path, job.executable ? 0o755 : 0o644);
        return;
      }
      if (options.link && !job.executable && (await tryLink(store.objectPath(job.digest), job.path))) {
        result.linked++;
      } else {
        await store.copyBlobTo(job.digest, job.path, job.executable ? 0o755 : 0o644);
      }
      options.onFile?.(job.digest.sizeBytes);
    } catch (err) {
      if (err instanceof CasError) throw err;
      const reason = errnoOf(err) === 'ENOENT' ? 'blob-not-found' : 'io';
      throw new CasError(
        reason,
        `checkout of ${formatDigest(root)}: cannot create ${job.path}: ${errnoOf(err)}`,
        {
          cause: err,
        },
      );
    }
  });
  await fromRemote?.finish().catch((err: unknown) => {
    if (err instanceof CasError) throw err;
    throw new CasError('io', `checkout of ${formatDigest(root)}: ${errnoOf(err) ?? (err as Error).message}`, {
      cause: err,
    });
  });
  return result;
}

function mkdirDirectory(path: string, root: Digest): void {
  try {
    mkdirSync(path, { mode: 0o755 });
  } catch (err) {
    throw new CasError('io', `checkout of ${formatDigest(root)}: cannot create ${path}: ${errnoOf(err)}`, {
      cause: err,
    });
  }
}

/**
 * Hard-links `from` to `to`; false when linking is impossible there, or there is no object
 * file (the blob is only in a pack), so copy instead.
 */
async function tryLink(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOENT')
      return false;
    throw err;
  }
}
