import * as core from '@actions/core';
import { type TreeFetch, bringLocal, ensureRef } from '../cas/remote/bring-local.js';
import { NO_COMPRESSION } from '../cas/remote/compression.js';
import { RefStore } from '../cas/store/refs.js';
import type { Connection } from '../grpc/connection.js';
import type { ActionConfig } from './inputs.js';
import { pathRoots } from './cache-paths.js';
import { type EntryInfo, entryContentId, manifestNode, samePatterns } from '../cas/entries/manifest.js';
import { readEntry, restorePaths } from '../cas/entries/entry-tree.js';
import { stageDirectory } from '../cas/entries/stage.js';
import { actionsLogger } from './logger.js';
import type { RunStats } from './report.js';
import type { MainState } from './state.js';
import { type Digest, formatDigest, sameDigest } from '../cas/digest.js';
import type { Directory } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type VisitedDirectory, addTreeBlobHashes } from '../cas/trees/tree.js';
import { resolveRemoteRef } from '../cas/remote/remote-refs.js';
import { Remote } from '../cas/remote/remote.js';
import { CasStore } from '../cas/store/store.js';
import { isCasError } from '../errors.js';
import type { Logger } from '../logger.js';
import { keyRef, localKeysWithPrefix, pointerRef } from './keys.js';
import { jobTempDir } from '../util/temp.js';
import { type RemoteDescription, remoteSpecFrom } from '../settings/remote.js';

export interface RestoreContext {
  store: CasStore;
  refs: RefStore;
  remote?: Remote;
  logger: Logger;
  /** Leave files the local cache lacks on the remote (BringLocalOptions.filesFromRemote). */
  filesFromRemote?: boolean;
}

export interface KeyMatch {
  /** The key the entry was saved under (never the restore key that found it). */
  key: string;
  root: Digest;
  /** The key is the one asked for: `cache-hit`. */
  exact: boolean;
  /** What the entry holds (entryContentId): an unchanged capture has the same. */
  contentId: string;
  /** What bringing its tree local took. */
  fetch: TreeFetch;
}

/** An entry a lookup found, read but not yet fetched whole. */
interface Candidate {
  /** The ref it was found under; set locally when it came from the remote. */
  name: string;
  root: Digest;
  onRemote: boolean;
  key: string;
  directory: Directory;
  entry: EntryInfo;
}

/**
 * Reads the manifest of entry `root`, fetching the root Directory and the manifest (two small
 * blobs, not the tree) from the remote when the local cache lacks them. Undefined when neither
 * has them; throws 'unsafe-tree' for a hostile root.
 */
async function peekEntry(
  ctx: RestoreContext,
  root: Digest,
): Promise<{ directory: Directory; entry: EntryInfo } | undefined> {
  try {
    return await readEntry(ctx.store, root);
  } catch (err) {
    if (!isCasError(err, 'blob-not-found') || !ctx.remote) throw err;
  }
  if ((await ctx.remote.fetchBlobs([root])).missing.length > 0) return undefined;
  const node = manifestNode(await ctx.store.readDirectory(root));
  if (node?.digest && (await ctx.remote.fetchBlobs([node.digest])).missing.length > 0) return undefined;
  return readEntry(ctx.store, root);
}

/**
 * The entry ref `name` points to (locally, or on the remote with `onRemote`) when it was saved
 * for `patterns`; `key` names a legacy entry, whose manifest does not. Undefined otherwise, or
 * when the entry cannot be read (logged at debug level).
 */
async function candidate(
  ctx: RestoreContext,
  name: string,
  onRemote: boolean,
  patterns: string[],
  key?: string,
): Promise<Candidate | undefined> {
  const root = onRemote
    ? await resolveRemoteRef(ctx.remote!, name)
    : await ctx.refs.resolve(name).catch((err: unknown) => {
        if (isCasError(err, 'ref-not-found')) return undefined;
        throw err;
      });
  if (!root) return undefined;
  let read: Awaited<ReturnType<typeof peekEntry>>;
  try {
    read = await peekEntry(ctx, root);
  } catch (err) {
    if (!isCasError(err, 'blob-not-found', 'corrupt-data')) throw err;
    ctx.logger.debug(`cache entry ${name} cannot be read: ${(err as Error).message}`);
  }
  const entryKey = read?.entry.key ?? key;
  if (!read || entryKey === undefined) return undefined;
  if (!samePatterns(read.entry.patterns, patterns)) {
    ctx.logger.debug(`cache entry ${name} was saved for other paths (${read.entry.patterns.join(', ')})`);
    return undefined;
  }
  return { name, root, onRemote, key: entryKey, ...read };
}

/** The entry saved under exactly `key`: the local one, then (when that will not do) the remote's. */
async function* exactCandidates(
  ctx: RestoreContext,
  key: string,
  patterns: string[],
): AsyncGenerator<Candidate> {
  const local = await candidate(ctx, keyRef(key), false, patterns, key);
  if (local) yield local;
  if (!ctx.remote) return;
  const remote = await candidate(ctx, keyRef(key), true, patterns, key);
  if (remote && !(local && sameDigest(local.root, remote.root))) yield remote;
}

/**
 * Every entry whose key starts with `prefix`, newest save first: local keys (a local cache
 * can list them) and the prefix's pointer, locally and on the remote (see pointerRef). Why
 * the save time and not ref mtimes: a restore touches its ref, which makes an old key "newer".
 * Legacy entries, which record no save time, come last, most recently used first.
 */
async function prefixCandidates(
  ctx: RestoreContext,
  prefix: string,
  patterns: string[],
): Promise<Candidate[]> {
  const found: Candidate[] = [];
  const add = (c: Candidate | undefined): void => {
    if (c && !found.some((f) => sameDigest(f.root, c.root))) found.push(c);
  };
  for (const local of await localKeysWithPrefix(ctx.refs, prefix)) {
    add(await candidate(ctx, local.ref, false, patterns, local.key));
  }
  const pointer = pointerRef(prefix, patterns);
  add(await candidate(ctx, pointer, false, patterns));
  if (ctx.remote) add(await candidate(ctx, pointer, true, patterns));
  const savedAt = (c: Candidate): number => c.entry.savedAtMs ?? -Infinity;
  return found.filter((c) => c.key.startsWith(prefix)).sort((a, b) => savedAt(b) - savedAt(a));
}

/**
 * Fetches what the local cache lacks of `c` (bringLocal) and returns it as the match for
 * `key`; undefined (logged) when its blobs are gone. A hostile tree ('unsafe-tree') throws.
 */
async function take(ctx: RestoreContext, c: Candidate, key: string): Promise<KeyMatch | undefined> {
  let fetch: TreeFetch;
  try {
    fetch = await bringLocal(ctx.store, ctx.remote, c.root, { filesFromRemote: ctx.filesFromRemote });
  } catch (err) {
    if (!isCasError(err, 'blob-not-found', 'corrupt-data')) throw err;
    ctx.logger.debug(`cache entry ${c.name} is incomplete: ${(err as Error).message}`);
    return undefined;
  }
  if (c.onRemote) await ctx.refs.set(c.name, c.root);
  else await ctx.refs.touch(c.name);
  return {
    key: c.key,
    root: c.root,
    exact: c.key === key,
    contentId: entryContentId(c.directory, c.entry),
    fetch,
  };
}

/**
 * actions/cache-style lookup of an entry saved for the `path` lines `patterns`: the key
 * exactly, then for each restore key that key exactly, then the newest save whose key starts
 * with it (prefixCandidates). Entries saved for other patterns never match. `exact` only when
 * the entry's key is `key` itself.
 */
export async function findKey(
  ctx: RestoreContext,
  key: string,
  restoreKeys: string[],
  patterns: string[],
): Promise<KeyMatch | undefined> {
  for await (const c of exactCandidates(ctx, key, patterns)) {
    const match = await take(ctx, c, key);
    if (match) return match;
  }
  for (const restoreKey of new Set(restoreKeys)) {
    if (restoreKey !== key) {
      for await (const c of exactCandidates(ctx, restoreKey, patterns)) {
        const match = await take(ctx, c, key);
        if (match) return match;
      }
    }
    for (const c of await prefixCandidates(ctx, restoreKey, patterns)) {
      const match = await take(ctx, c, key);
      if (match) return match;
    }
  }
  return undefined;
}

/**
 * What restoreRequested (or lookupRequested) did, for the main step to record: the state's
 * restore fields, the counts of the trees brought local (see TreeFetch) and of lookup-only's
 * read of the persisted index, its warnings, and `error`, what stopped it part way (the rest
 * is then what was done before).
 */
export type RestoreOutcome = Pick<
  MainState,
  'matchedKey' | 'cacheHit' | 'restoredKeyRoot' | 'restoredKeyContent' | 'refsRestored' | 'refsMissing'
> &
  Pick<RunStats, 'blobsNeeded' | 'blobsFetched' | 'bytesFetched' | 'persistBytesDownloaded'> & {
    warnings: string[];
    error?: unknown;
    /**
     * The hashes of the restored key's tree (its entry Directory, every Directory and file
     * blob checked out), gathered as it was checked out: what CasStore.installPacked leaves
     * packed. Undefined when no key was restored.
     */
    keyTreeBlobs?: Set<string>;
  };

/**
 * The remote a restore or lookup reads from (registered with casd, read-only; close it
 * after), or undefined without one (none configured, or it did not answer at start).
 */
export async function restoreRemote(
  remote: RemoteDescription | undefined,
  connection: Connection,
  store: CasStore,
): Promise<Remote | undefined> {
  if (!remote) return undefined;
  return Remote.register(connection, remoteSpecFrom({ ...remote, readOnly: true }), {
    store,
    logger: actionsLogger,
    tempDir: jobTempDir(),
  });
}

/** An outcome with nothing done yet. */
export function emptyOutcome(): RestoreOutcome {
  return {
    cacheHit: false,
    refsRestored: [],
    refsMissing: [],
    blobsNeeded: 0,
    blobsFetched: 0,
    bytesFetched: 0,
    persistBytesDownloaded: 0,
    warnings: [],
  };
}

function count(outcome: RestoreOutcome, fetch: TreeFetch): void {
  outcome.blobsNeeded += fetch.needed;
  outcome.blobsFetched += fetch.fetched;
  outcome.bytesFetched += fetch.bytesFetched;
}

/**
 * Restores what the inputs ask for: each of `refs` (staged at its path when given), then the
 * key or the first matching restore key into `path`. `remoteUnavailable`: the remote did not
 * answer at start, so none is used. Returns what it did; a failure part way is returned as
 * `error` with what was done before it.
 */
export async function restoreRequested(
  config: ActionConfig,
  connection: Connection,
  remoteDescription?: RemoteDescription,
): Promise<RestoreOutcome> {
  const outcome = emptyOutcome();
  const store = new CasStore({ cacheDir: config.cacheDir, connection, logger: actionsLogger });
  await store.checkLayout();
  const refs = new RefStore(config.cacheDir);
  const remote = await restoreRemote(remoteDescription, connection, store);
  // Write once: `path` straight from the remote's blobs, none through casd's store (casd
  // fetches what a tool asks it for), where that beats casd: when the remote sends zstd,
  // which casd cannot take. Without, casd's fetch and a copy were faster here (10,000 files:
  // 3.5-3.8 s against 4.1-10 s). A persisted cache needs the blobs local, and restore-links
  // links casd's objects.
  const writeOnce =
    remote !== undefined &&
    !config.saveLocalCache &&
    !config.restoreLinks &&
    (await remote.direct.compression().catch(() => NO_COMPRESSION)).zstd;
  const ctx: RestoreContext = { store, refs, remote, logger: actionsLogger, filesFromRemote: writeOnce };
  const stageOptions = {
    link: config.restoreLinks,
    logger: actionsLogger,
    remote: writeOnce ? remote?.direct : undefined,
  };
  try {
    for (const ref of config.refs) {
      const found = await ensureRef(store, refs, remote, ref.name, actionsLogger);
      if (!found) {
        outcome.refsMissing.push(ref.name);
        core.info(`Ref ${ref.name} was not found locally${remote ? ' or on the remote' : ''}`);
        continue;
      }
      count(outcome, found);
      if (ref.path) await stageDirectory(store, found.root, ref.path, stageOptions);
      outcome.refsRestored.push(ref.name);
      core.info(`Restored ref ${ref.name} (${formatDigest(found.root)})${ref.path ? ` to ${ref.path}` : ''}`);
    }
    if (config.key) {
      const match = await findKey(ctx, config.key, config.restoreKeys, config.paths);
      if (match) count(outcome, match.fetch);
      const keyTreeBlobs = new Set<string>();
      const restored =
        match &&
        (await restorePaths(store, match.root, config.paths, pathRoots(), {
          ...stageOptions,
          onDirectory: (visited: VisitedDirectory) => addTreeBlobHashes(keyTreeBlobs, visited),
        }));
      if (match && restored) {
        outcome.keyTreeBlobs = keyTreeBlobs;
        outcome.matchedKey = match.key;
        outcome.cacheHit = match.exact;
        outcome.restoredKeyRoot = formatDigest(match.root);
        outcome.restoredKeyContent = match.contentId;
        core.info(
          `Restored ${config.paths.join(', ')} from key ${match.key}${match.exact ? '' : ' (partial match)'}`,
        );
      } else {
        core.info(
          `No cache entry for key ${config.key}${config.restoreKeys.length ? ' or its restore keys' : ''}`,
        );
      }
    }
  } catch (err) {
    outcome.error = err;
  } finally {
    await remote?.close();
  }
  return outcome;
}
