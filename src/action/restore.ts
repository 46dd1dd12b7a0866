import * as core from '@actions/core';
import { RefStore } from '../cas/refs.js';
import type { Connection } from '../grpc/connection.js';
import { remoteSpec } from './config.js';
import type { ActionConfig } from './inputs.js';
import { pathRoots } from './cache-paths.js';
import { type EntryInfo, entryContentId, manifestNode, samePatterns } from './entry-manifest.js';
import { readEntry, restorePaths, stageDirectory } from './key-tree.js';
import { actionsLogger } from './logger.js';
import type { MainState } from './state.js';
import { type Digest, formatDigest, sameDigest } from '../cas/digest.js';
import type { Directory } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { resolveRemoteRef } from '../cas/remote-refs.js';
import { Remote } from '../cas/remote.js';
import { CasStore } from '../cas/store.js';
import { requiredBlobs } from '../cas/tree.js';
import { CasError, isCasError } from '../errors.js';
import type { Logger } from '../logger.js';
import { keyRef, localKeysWithPrefix, pointerRef } from './keys.js';
import type { RunStats } from './report.js';

export interface RestoreContext {
  store: CasStore;
  refs: RefStore;
  remote?: Remote;
  logger: Logger;
  stats: RunStats;
}

/** Lists the blobs of `root` that the local cache lacks, counting the tree's blobs. */
async function localMissing(
  ctx: RestoreContext,
  root: Digest,
): Promise<{ needed: number; missing: Digest[] }> {
  let needed = 0;
  const missing = await ctx.store.localMissingBlobs(
    (async function* () {
      for await (const digest of requiredBlobs(ctx.store, root)) {
        needed++;
        yield digest;
      }
    })(),
  );
  return { needed, missing };
}

/**
 * Counts the tree's blobs and fetches those the local cache lacks from the remote. A tree
 * complete in the local cache needs no remote at all; its Directories are fetched only when
 * one is missing locally. Throws 'unsafe-tree' / 'corrupt-data' for a hostile or broken tree.
 */
async function completeTree(ctx: RestoreContext, root: Digest): Promise<boolean> {
  let local: { needed: number; missing: Digest[] };
  try {
    local = await localMissing(ctx, root);
  } catch (err) {
    if (!ctx.remote || !isCasError(err, 'blob-not-found')) throw err;
    await ctx.remote.fetchDirectory(root);
    local = await localMissing(ctx, root);
  }
  const { needed, missing } = local;
  ctx.stats.blobsNeeded += needed;
  if (missing.length === 0) return true;
  if (!ctx.remote) return false;
  const { missing: lacking } = await ctx.remote.fetchBlobs(missing);
  if (lacking.length > 0) {
    throw new CasError(
      'blob-not-found',
      `the remote lacks ${lacking.length} blob(s) of tree ${formatDigest(root)}, e.g. ${formatDigest(lacking[0])}`,
    );
  }
  ctx.stats.blobsFetched += missing.length;
  ctx.stats.bytesFetched += missing.reduce((sum, d) => sum + d.sizeBytes, 0);
  return true;
}

/**
 * Makes ref `name` available locally with every blob of its tree: from the local cache when
 * complete there, else from the remote (Remote Asset to resolve, then the blobs it lacks).
 * Returns the tree's digest, or undefined when neither knows the ref.
 */
export async function ensureRef(ctx: RestoreContext, name: string): Promise<Digest | undefined> {
  if (await ctx.refs.has(name)) {
    const local = await ctx.refs.resolve(name, { touch: true });
    try {
      if (await completeTree(ctx, local)) return local;
    } catch (err) {
      // A local ref whose blobs expired and that the remote cannot complete: try the remote's
      // ref. A hostile tree (unsafe names) is never "incomplete": that error stands.
      if (!isCasError(err, 'blob-not-found') && !isCasError(err, 'corrupt-data')) throw err;
      ctx.logger.debug(`local ref ${name} is incomplete: ${(err as Error).message}`);
    }
  }
  if (!ctx.remote) return undefined;
  const remoteRoot = await resolveRemoteRef(ctx.remote, name);
  if (!remoteRoot) return undefined;
  await completeTree(ctx, remoteRoot);
  await ctx.refs.set(name, remoteRoot);
  return remoteRoot;
}

export interface KeyMatch {
  /** The key the entry was saved under (never the restore key that found it). */
  key: string;
  root: Digest;
  /** The key is the one asked for: `cache-hit`. */
  exact: boolean;
  /** What the entry holds (entryContentId): an unchanged capture has the same. */
  contentId: string;
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
 * Fetches what the local cache lacks of `c` and returns it as the match for `key`; undefined
 * (logged) when its blobs are gone. A hostile tree ('unsafe-tree') throws.
 */
async function take(ctx: RestoreContext, c: Candidate, key: string): Promise<KeyMatch | undefined> {
  try {
    if (!(await completeTree(ctx, c.root))) return undefined;
  } catch (err) {
    if (!isCasError(err, 'blob-not-found', 'corrupt-data')) throw err;
    ctx.logger.debug(`cache entry ${c.name} is incomplete: ${(err as Error).message}`);
    return undefined;
  }
  if (c.onRemote) await ctx.refs.set(c.name, c.root);
  else await ctx.refs.touch(c.name);
  return { key: c.key, root: c.root, exact: c.key === key, contentId: entryContentId(c.directory, c.entry) };
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
 * Restores what the inputs ask for: each of `refs` (staged at its path when given), then the
 * key or the first matching restore key into `path`. Fills the state's outputs.
 */
export async function restoreRequested(
  config: ActionConfig,
  connection: Connection,
  state: MainState,
): Promise<void> {
  const store = new CasStore({ cacheDir: config.cacheDir, connection, logger: actionsLogger });
  await store.checkLayout();
  const refs = new RefStore(config.cacheDir);
  const remote =
    config.remote && !state.remoteUnavailable
      ? await Remote.register(connection, remoteSpec(config, true), {
          store,
          logger: actionsLogger,
          tempDir: process.env.RUNNER_TEMP,
        })
      : undefined;
  const ctx: RestoreContext = { store, refs, remote, logger: actionsLogger, stats: state.stats };
  const stageOptions = { link: config.restoreLinks, logger: actionsLogger };
  try {
    for (const ref of config.refs) {
      const root = await ensureRef(ctx, ref.name);
      if (!root) {
        state.refsMissing.push(ref.name);
        core.info(`Ref ${ref.name} was not found locally${remote ? ' or on the remote' : ''}`);
        continue;
      }
      if (ref.path) await stageDirectory(store, root, ref.path, stageOptions);
      state.refsRestored.push(ref.name);
      core.info(`Restored ref ${ref.name} (${formatDigest(root)})${ref.path ? ` to ${ref.path}` : ''}`);
    }
    if (config.key) {
      const match = await findKey(ctx, config.key, config.restoreKeys, config.paths);
      if (match && (await restorePaths(store, match.root, config.paths, pathRoots(), stageOptions))) {
        state.matchedKey = match.key;
        state.cacheHit = match.exact;
        state.restoredKeyRoot = formatDigest(match.root);
        state.restoredKeyContent = match.contentId;
        core.info(
          `Restored ${config.paths.join(', ')} from key ${match.key}${match.exact ? '' : ' (partial match)'}`,
        );
      } else {
        core.info(
          `No cache entry for key ${config.key}${config.restoreKeys.length ? ' or its restore keys' : ''}`,
        );
      }
    }
  } finally {
    await remote?.close();
  }
}
