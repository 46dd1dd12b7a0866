import * as core from '@actions/core';
import { RefStore } from '../cas/store/refs.js';
import { resolveRemoteRef } from '../cas/remote/remote-refs.js';
import { Remote } from '../cas/remote/remote.js';
import { CasStore } from '../cas/store/store.js';
import { type Digest, formatDigest } from '../cas/digest.js';
import { CasError } from '../errors.js';
import { Directory } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { manifestNode, parseManifest } from '../cas/entries/manifest.js';
import type { Connection } from '../grpc/connection.js';
import type { ActionConfig } from './inputs.js';
import { keyRef, localKeysWithPrefix, pointerRef } from './keys.js';
import { actionsLogger } from './logger.js';
import { guarded, troublePolicy } from './guard.js';
import { restorePersisted, withPersistedIndex } from './persist/index.js';
import { type RunReport, timed } from './report.js';
import { type RestoreOutcome, emptyOutcome, restoreRemote } from './restore.js';
import type { MainState } from './state.js';
import type { RemoteDescription } from '../settings/remote.js';

/** Where lookup-only looks: refs alone, never a blob of an entry. */
interface LookupContext {
  store: CasStore;
  local: RefStore;
  /** The refs of the persisted index (the Actions cache), when it was read. */
  index?: RefStore;
  remote?: Remote;
}

type Source = 'the local cache' | 'the Actions cache' | 'the remote';

/** What lookup-only found: the key a restore would restore, and where it was found. */
export interface KeyFound {
  key: string;
  /** The key is the one asked for: `cache-hit`. */
  exact: boolean;
  source: Source;
}

/**
 * Where ref `name` could be restored from, without fetching or writing anything: the local
 * cache when its whole tree is there, the persisted index when it lists the ref (its blobs are
 * in packs), the remote when it resolves the ref (Remote Asset only, no blob read). Undefined
 * when none has it.
 */
async function refSource(
  ctx: LookupContext,
  name: string,
): Promise<{ source: Source; root?: Digest } | undefined> {
  const local = await ctx.local.resolve(name).catch(() => undefined);
  if (local && (await ctx.store.containsDirectory(local).catch(() => false)))
    return { source: 'the local cache' };
  if (await ctx.index?.has(name)) return { source: 'the Actions cache' };
  const remoteRoot = ctx.remote ? await resolveRemoteRef(ctx.remote, name) : undefined;
  if (remoteRoot) return { source: 'the remote', root: remoteRoot };
  return undefined;
}

/**
 * The key a remote pointer's entry was saved under, from its root Directory and manifest: two
 * small blobs read into memory (nothing is written to the local cache or to `path`), so that
 * `matched-key` names the key, never the prefix. Undefined when they cannot be read.
 */
async function remoteEntryKey(remote: Remote, root: Digest): Promise<string | undefined> {
  try {
    const rootRead = await remote.direct.readBlobs([root]);
    const data = rootRead.blobs.get(root.hash);
    if (!data) return undefined;
    const node = manifestNode(Directory.decode(data));
    if (!node?.digest) return undefined;
    const manifest = (await remote.direct.readBlobs([node.digest])).blobs.get(node.digest.hash);
    return manifest ? parseManifest(node.name, manifest, formatDigest(root)).key : undefined;
  } catch (err) {
    remote.logger.debug(
      `lookup-only: the entry ${formatDigest(root)} cannot be read: ${(err as Error).message}`,
    );
    return undefined;
  }
}

/**
 * lookup-only: the key a restore would restore for `key` and `restoreKeys` (entries saved for
 * the `path` lines `patterns`), found from refs without fetching a blob: the key exactly, then
 * for each restore key that key exactly, the keys starting with it that the local cache and
 * the persisted index list (most recently used first), then the prefix's pointer. Why only
 * refs: what an entry holds, when it was saved and under which key a pointer saved it are in
 * the entry's blobs, which lookup-only does not fetch; so an entry saved for other paths is
 * not told apart under its exact key. A remote pointer's key is read from its entry's root
 * Directory and manifest (two small blobs, in memory only).
 */
export async function lookupKey(
  ctx: LookupContext,
  key: string,
  restoreKeys: string[],
  patterns: string[],
): Promise<KeyFound | undefined> {
  const exact = await refSource(ctx, keyRef(key));
  if (exact) return { key, exact: true, source: exact.source };
  // A ref found nowhere once is not asked about again (a restore key may equal key).
  const asked = new Set<string>([keyRef(key)]);
  for (const prefix of restoreKeys) {
    const listed = [
      { key: prefix, ref: keyRef(prefix) },
      ...(await localKeysWithPrefix(ctx.local, prefix)),
      ...(ctx.index ? await localKeysWithPrefix(ctx.index, prefix) : []),
      { key: prefix, ref: pointerRef(prefix, patterns) },
    ];
    for (const candidate of listed) {
      if (asked.has(candidate.ref)) continue;
      asked.add(candidate.ref);
      const found = await refSource(ctx, candidate.ref);
      if (!found) continue;
      // A pointer names a prefix; the entry behind it knows its key.
      const pointed = found.root && ctx.remote ? await remoteEntryKey(ctx.remote, found.root) : undefined;
      return { key: pointed ?? candidate.key, exact: false, source: found.source };
    }
  }
  return undefined;
}

/**
 * The main step with lookup-only: looks key and restore-keys up (lookupKey) in the local
 * cache, in the persisted index when the local cache is persisted (`persistPrefix`, reading
 * the index only), and on the remote (unless `remoteUnavailable`). Restores nothing, refs
 * included. Returns what it found (matched key, cache hit, what the index read cost).
 */
export async function lookupRequested(
  config: ActionConfig,
  connection: Connection,
  remoteDescription?: RemoteDescription,
  persistPrefix?: string,
): Promise<RestoreOutcome> {
  const outcome = emptyOutcome();
  const store = new CasStore({ cacheDir: config.cacheDir, connection, logger: actionsLogger });
  const remote = await restoreRemote(remoteDescription, connection, store);
  try {
    const local = new RefStore(config.cacheDir);
    const look = (index?: RefStore): Promise<KeyFound | undefined> =>
      lookupKey({ store, local, index, remote }, config.key!, config.restoreKeys, config.paths);
    let found: KeyFound | undefined;
    if (persistPrefix) {
      const read = await withPersistedIndex(
        {
          cacheDir: config.cacheDir,
          prefix: persistPrefix,
          timeoutMs: config.restoreTimeoutMs,
          policy: troublePolicy(config, 'main'),
          logger: actionsLogger,
        },
        look,
      );
      found = read.value;
      outcome.persistBytesDownloaded += read.bytesDownloaded;
      outcome.warnings.push(...read.warnings);
    } else {
      found = await look();
    }
    if (found) {
      outcome.matchedKey = found.key;
      outcome.cacheHit = found.exact;
      core.info(
        `Cache found and can be restored from key: ${found.key} (in ${found.source}; lookup-only: nothing was restored)`,
      );
    } else {
      core.info(`Cache not found for input keys: ${[config.key, ...config.restoreKeys].join(', ')}`);
    }
    if (config.refs.length > 0) {
      core.info(`lookup-only: refs ${config.refs.map((r) => r.name).join(', ')} were not restored`);
    }
  } finally {
    await remote?.close();
  }
  return outcome;
}

/**
 * The error of fail-on-cache-miss: actions/cache's words, then the restore keys and where
 * this action looked.
 */
export function cacheMissError(config: ActionConfig): CasError {
  const places = [
    'locally',
    ...(config.remote ? ['on the remote'] : []),
    ...(config.saveLocalCache ? ['in the Actions cache'] : []),
  ];
  const where = places.length > 1 ? `${places.slice(0, -1).join(', ')} and ${places.at(-1)}` : places[0];
  const restoreKeys = config.restoreKeys.length ? `restore keys: ${config.restoreKeys.join(', ')}; ` : '';
  return new CasError(
    'cache-miss',
    `Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: ${config.key} (${restoreKeys}looked up ${where})`,
  );
}

/**
 * Why the post step (or the save sub-action) saves nothing for this session, or undefined
 * when it saves as usual: fail-on-cache-miss failed the main step, or lookup-only found key
 * itself (actions/cache saves nothing after an exact hit of its key; and nothing was restored
 * that a capture could be compared with).
 */
export function saveSkipped(config: ActionConfig, state: MainState): string | undefined {
  if (state.failedOnMiss) {
    return `nothing matched key ${config.key} and fail-on-cache-miss is set: the main step failed and nothing was saved`;
  }
  if (config.lookupOnly && state.cacheHit) {
    return `lookup-only found key ${config.key}: nothing was restored, and nothing is saved (as actions/cache after an exact hit)`;
  }
  return undefined;
}

/**
 * Before the local cache is persisted after lookup-only. The main step did not restore it
 * from the Actions cache, and the next job restores only the newest index: an index saved
 * from this cache directory alone would lack everything saved before. So when this job
 * committed a key, the persisted cache is restored now (what the main step skipped; casd has
 * stopped), and the save builds on it; otherwise nothing is persisted. Returns whether to save.
 */
export async function restoreSkippedPersist(
  config: ActionConfig,
  state: MainState,
  report: RunReport,
): Promise<boolean> {
  if (!report.refsCommitted) {
    core.info('lookup-only: no key was saved, so the local cache is not saved to the Actions cache either');
    return false;
  }
  const restored = await guarded(
    report,
    'restoring the local cache from the Actions cache before saving',
    () =>
      timed(report.stats, 'restore local cache', () =>
        restorePersisted({
          cacheDir: config.cacheDir,
          prefix: state.persistPrefix!,
          timeoutMs: config.restoreTimeoutMs,
          policy: troublePolicy(config, 'post'),
          logger: actionsLogger,
        }),
      ),
  );
  if (restored) {
    report.stats.persistBytesDownloaded += restored.bytesDownloaded;
    report.warnings.push(...restored.warnings);
  }
  // A miss (nothing persisted yet) is a fine base; a failed restore is not.
  if (restored && (restored.indexKey || restored.warnings.length === 0)) return true;
  const message = `the local cache was not saved to the Actions cache: restoring what it holds first failed, and a save without it would drop that (key ${config.key} was saved locally${report.refsPushed.length ? ' and on the remote' : ''})`;
  report.warnings.push(message);
  core.warning(message);
  return false;
}
