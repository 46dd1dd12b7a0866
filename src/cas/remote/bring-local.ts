import { CasError, isCasError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import { mapLimit } from '../../util/concurrency.js';
import { type Digest, formatDigest } from '../digest.js';
import type { RefStore } from '../store/refs.js';
import { resolveRemoteRef } from './remote-refs.js';
import { treeLevels } from './remote-tree.js';
import type { Remote } from './remote.js';
import type { CasStore } from '../store/store.js';
import { DigestSet } from '../trees/tree.js';
import { BRING_LOCAL_FILE_GROUP, BRING_LOCAL_READ_CONCURRENCY } from '../options.js';

// Bringing a tree local (BuildStream's pull_tree): the one place that completes a tree in the
// local cache from the remote, for the action's restore and the CLI's pull and checkout.

/** What bringing a tree local took. */
export interface TreeFetch {
  /** Distinct blobs of the tree: every Directory (the root included) and every file. */
  needed: number;
  /** Blobs the local cache lacked and the remote gave (Directories and files). */
  fetched: number;
  bytesFetched: number;
}

export interface BringLocalOptions {
  /** Hears of each group of blobs fetched. */
  onFetched?: (blobs: number, bytes: number) => void;
  /**
   * Fetch only the Directories; of the files the local cache lacks, check that the remote
   * holds them (FindMissingBlobs) and leave them there, for a checkout that reads them
   * straight into place (CheckoutOptions.remote). They count as fetched.
   */
  filesFromRemote?: boolean;
}

/**
 * Makes the tree under `root` complete in the local cache: walks it level by level from the
 * local store, fetching from `remote` only the Directories and files the local cache lacks
 * (a tree complete locally makes no remote call). Every Directory is validated as it is read.
 * Returns the counts. Throws CasError('blob-not-found') naming what neither the local cache
 * nor the remote holds (or that no remote is given), 'corrupt-data' / 'unsafe-tree' for a
 * broken or hostile Directory.
 */
export async function bringLocal(
  store: CasStore,
  remote: Remote | undefined,
  root: Digest,
  options: BringLocalOptions = {},
): Promise<TreeFetch> {
  const result: TreeFetch = { needed: 0, fetched: 0, bytesFetched: 0 };
  const fetch = async (absent: Digest[], leaveThere = false): Promise<void> => {
    if (absent.length === 0) return;
    if (!remote) {
      throw new CasError(
        'blob-not-found',
        `tree ${formatDigest(root)} is incomplete in the local cache and no remote is set: ${absent.length} blob(s) missing, e.g. ${formatDigest(absent[0])}`,
      );
    }
    const { missing } = leaveThere
      ? { missing: await remote.remoteMissingBlobs(absent) }
      : await remote.fetchBlobs(absent);
    if (missing.length > 0) {
      throw new CasError(
        'blob-not-found',
        `tree ${formatDigest(root)} is incomplete on ${remote.spec.url}: ${missing.length} blob(s) missing, e.g. ${formatDigest(missing[0])}`,
      );
    }
    const bytes = absent.reduce((sum, d) => sum + d.sizeBytes, 0);
    result.fetched += absent.length;
    result.bytesFetched += bytes;
    options.onFetched?.(absent.length, bytes);
  };
  // Every distinct blob counts once, whether a Directory or a file holds it.
  const blobs = new DigestSet();
  let files: Digest[] = [];
  const levels = treeLevels(root, async (level) => {
    for (const digest of level) blobs.add(digest);
    await fetch(await store.localMissingBlobs(level));
    return mapLimit(level, BRING_LOCAL_READ_CONCURRENCY, async (digest) => ({
      directory: await store.readDirectory(digest),
    }));
  });
  for await (const level of levels) {
    const wanted: Digest[] = [];
    for (const { directory } of level) {
      for (const file of directory.files) if (file.digest && blobs.add(file.digest)) wanted.push(file.digest);
    }
    files.push(...(await store.localMissingBlobs(wanted)));
    if (files.length >= BRING_LOCAL_FILE_GROUP) {
      await fetch(files, options.filesFromRemote);
      files = [];
    }
  }
  await fetch(files, options.filesFromRemote);
  result.needed = blobs.size;
  return result;
}

/** A ref made local: the tree it names and what bringing it local took. */
export interface RefFetch extends TreeFetch {
  root: Digest;
}

/**
 * Resolves ref `name` on `remote` (Remote Asset), brings its tree local (bringLocal) and
 * points the local ref at it. Undefined when the remote does not know the ref; throws like
 * bringLocal when the remote cannot complete the tree (the local ref is then left alone).
 */
export async function pullRef(
  store: CasStore,
  refs: RefStore,
  remote: Remote,
  name: string,
  options: BringLocalOptions = {},
): Promise<RefFetch | undefined> {
  const root = await resolveRemoteRef(remote, name);
  if (!root) return undefined;
  const fetched = await bringLocal(store, remote, root, options);
  await refs.set(name, root);
  return { root, ...fetched };
}

/**
 * Makes ref `name` available locally with every blob of its tree: the local ref when its tree
 * can be completed (from the local cache, else with the remote's blobs), else the remote's ref
 * (pullRef). Undefined when neither knows the ref. A hostile tree ('unsafe-tree') throws.
 */
export async function ensureRef(
  store: CasStore,
  refs: RefStore,
  remote: Remote | undefined,
  name: string,
  logger: Logger = silentLogger,
): Promise<RefFetch | undefined> {
  if (await refs.has(name)) {
    const local = await refs.resolve(name, { touch: true });
    try {
      return { root: local, ...(await bringLocal(store, remote, local)) };
    } catch (err) {
      // A local ref whose blobs expired and that the remote cannot complete: try the remote's
      // ref. A hostile tree (unsafe names) is never "incomplete": that error stands.
      if (!isCasError(err, 'blob-not-found', 'corrupt-data')) throw err;
      logger.debug(`local ref ${name} is incomplete: ${(err as Error).message}`);
    }
  }
  return remote ? pullRef(store, refs, remote, name) : undefined;
}
