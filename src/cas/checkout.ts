import { constants as fsConstants } from 'node:fs';
import { chmod, copyFile, link, lstat, mkdir, readdir, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CasError } from '../errors.js';
import { forEachLimit } from '../util/concurrency.js';
import { type Digest, formatDigest } from './digest.js';
import type { CasStore } from './store.js';
import { requiredBlobs, walkDirectories } from './tree.js';

export { stageTree, type StagedTree } from './local-cas.js';

export interface CheckoutOptions {
  /**
   * Hard-link non-executable files from the object store instead of copying them. Linked
   * files share their inode with casd's object: they are read-only (mode 0444) and MUST NOT
   * be modified (chmod or write), or the store is corrupted. Executable files are always
   * copied, since their mode would have to change on that shared inode. A link that fails
   * (another filesystem, too many links) falls back to a copy.
   */
  link?: boolean;
  /** Files written at once (default 16). */
  concurrency?: number;
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
 * First pass: reads (and so validates) every Directory and counts the blobs that are not in
 * the store, so that nothing is written for a tree that is hostile or incomplete.
 */
async function verifyTree(store: CasStore, root: Digest, concurrency: number): Promise<void> {
  let missing = 0;
  let example: Digest | undefined;
  await forEachLimit(requiredBlobs(store, root), concurrency, async (digest) => {
    if (!(await store.containsFile(digest))) {
      missing++;
      example ??= digest;
    }
  });
  if (missing > 0) {
    throw new CasError(
      'blob-not-found',
      `cannot check out tree ${formatDigest(root)}: ${missing} file blob(s) are missing from the local cache (e.g. ${formatDigest(example as Digest)}); fetch them first`,
    );
  }
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
  const concurrency = options.concurrency ?? 16;
  const base = resolve(dest);
  await verifyTree(store, root, concurrency);
  await prepareDestination(base);

  const result: CheckoutResult = { files: 0, linked: 0, directories: 0, symlinks: 0 };
  // Directories are created in walk order, each before anything inside it; every name was
  // validated and is unique within its Directory, and mkdir/link/copy/symlink all refuse to
  // replace an existing entry, so nothing can be written through a link.
  const jobs = async function* (): AsyncGenerator<Job> {
    for await (const { path, directory } of walkDirectories(store, root)) {
      const here = path === '' ? base : join(base, ...path.split('/'));
      for (const dir of directory.directories) {
        await mkdir(join(here, dir.name), { mode: 0o755 });
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
      if (options.link && !job.executable && (await tryLink(store.objectPath(job.digest), job.path))) {
        result.linked++;
        return;
      }
      await copyFile(
        store.objectPath(job.digest),
        job.path,
        fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE,
      );
      await chmod(job.path, job.executable ? 0o755 : 0o644);
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
  return result;
}

/** Hard-links `from` to `to`; false when linking is impossible there (so copy instead). */
async function tryLink(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM' || code === 'ENOTSUP') return false;
    throw err;
  }
}
