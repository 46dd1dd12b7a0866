import * as core from '@actions/core';
import { RefStore } from '../cas/refs.js';
import type { Connection } from '../grpc/connection.js';
import { remoteSpec } from './config.js';
import type { ActionConfig } from './inputs.js';
import { restorePaths, stageDirectory } from './key-tree.js';
import { actionsLogger } from './logger.js';
import type { MainState } from './state.js';
import { type Digest, formatDigest } from '../cas/digest.js';
import { resolveRemoteRef } from '../cas/remote-refs.js';
import { Remote } from '../cas/remote.js';
import { CasStore } from '../cas/store.js';
import { requiredBlobs } from '../cas/tree.js';
import { CasError, isCasError } from '../errors.js';
import type { Logger } from '../logger.js';
import { keyRef, newestLocalKeyWithPrefix, restoreKeyRef } from './keys.js';
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
  key: string;
  root: Digest;
  exact: boolean;
}

/**
 * actions/cache-style lookup: the exact key first, then each restore key as a prefix (newest
 * local match first, then the prefix's pointer on the remote).
 */
export async function findKey(
  ctx: RestoreContext,
  key: string,
  restoreKeys: string[],
): Promise<KeyMatch | undefined> {
  const exact = await ensureRef(ctx, keyRef(key));
  if (exact) return { key, root: exact, exact: true };
  for (const prefix of restoreKeys) {
    const local = await newestLocalKeyWithPrefix(ctx.refs, prefix);
    if (local) {
      const root = await ensureRef(ctx, local[1]);
      if (root) return { key: local[0], root, exact: false };
    }
    const pointer = await ensureRef(ctx, restoreKeyRef(prefix));
    if (pointer) return { key: prefix, root: pointer, exact: false };
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
      const match = await findKey(ctx, config.key, config.restoreKeys);
      if (match && (await restorePaths(store, match.root, config.paths, stageOptions))) {
        state.matchedKey = match.key;
        state.cacheHit = match.exact;
        state.restoredKeyRoot = formatDigest(match.root);
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
