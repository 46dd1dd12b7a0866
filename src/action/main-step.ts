import { join } from 'node:path';
import * as core from '@actions/core';
import { parseDigest } from '../cas/digest.js';
import { CasStore } from '../cas/store/store.js';
import { PACKS_DIR, packNames } from '../cas/store/pack-files.js';
import { toolRemote } from '../settings/remote.js';
import { writeToolSettings } from '../settings/tool-settings.js';
import { withDeadline } from '../util/deadline.js';
import { jobTempDir } from '../util/temp.js';
import { lockCacheDir, updateLock } from './cache-lock.js';
import { jobId, persistPrefix, pushAllowed, readConfig, readInput } from './config.js';
import { ExportedEnv, Outputs } from './constants.js';
import { guarded, troublePolicy, warn } from './guard.js';
import type { ActionConfig } from './inputs.js';
import { installCasd } from './install.js';
import { actionsLogger } from './logger.js';
import { restorePersisted } from './persist/index.js';
import { emptyStats, timed } from './report.js';
import { cacheMissError, lookupRequested } from './lookup.js';
import { finishSession } from './post-step.js';
import { type RestoreOutcome, restoreRequested } from './restore.js';
import { remoteDescription, writeSecretFiles } from './secret-files.js';
import { recordedInputs, writeSessionRecord } from './session-record.js';
import { actionStartOptions, startDaemon } from './start-daemon.js';
import { type MainState, saveMainState } from './state.js';

/**
 * The main step: validate inputs, install casd, restore the local cache from the Actions
 * cache, start the daemon, restore refs and keys, export the socket and settings files.
 */
export async function mainStep(): Promise<void> {
  const config = readConfig();
  const logger = actionsLogger;
  const stats = emptyStats();
  const state: MainState = {
    version: 1,
    cacheHit: false,
    refsRestored: [],
    refsMissing: [],
    stats,
    warnings: [],
  };
  const save = (): void => saveMainState(state);
  // Cache trouble is a warning, unless fail-on-cache-error: then it fails the step.
  const policy = troublePolicy(config, 'main');
  const phase = <T>(what: string, body: () => Promise<T>): Promise<T | undefined> =>
    guarded(state, what, body, policy);

  const job = jobId();
  const lock = await lockCacheDir(config.cacheDir, job);
  // The cache directory in use: the input's, or a private one when another job holds it.
  const cacheDir = lock.shared ? config.cacheDir : lock.dir;
  if (lock.shared) {
    state.lock = { dir: config.cacheDir, job };
  } else {
    core.notice(
      `${config.cacheDir} is in use by another job${lock.holder ? ` (${lock.holder})` : ''}; this job uses ${lock.dir}`,
    );
  }
  state.cacheDir = cacheDir;
  save();

  const installed = await timed(stats, 'install', () => installCasd({ ...config.install, logger }));
  state.casdVersion = installed.version;
  core.setOutput(Outputs.CasdVersion, installed.version);

  if (config.saveLocalCache) state.persistPrefix = persistPrefix();
  // lookup-only restores nothing: its lookup reads the persisted index alone (lookup.ts).
  // Settled at once into a value or an error, so that a failure during the daemon's start is
  // not an unhandled rejection (which ends the process).
  const restoringLocal =
    config.saveLocalCache && !config.lookupOnly
      ? settled(
          phase('restoring the local cache from the Actions cache', () =>
            timed(stats, 'restore local cache', () =>
              restorePersisted({
                cacheDir,
                prefix: state.persistPrefix!,
                timeoutMs: config.restoreTimeoutMs,
                policy,
                logger,
                // Why only without a remote: pushes go through casd, which must hold what it sends.
                // Without one, the restored packs stay pack files, and `path` is checked out of them.
                installBlobs: Boolean(config.remote),
              }),
            ),
          ),
        )
      : undefined;
  // Why casd may start during that restore only without a remote: then the restore leaves
  // casd's store alone (pack files, refs and action-cache files, which casd reads on demand);
  // with one it writes blobs into casd's store through casd's tmp dir, which casd clears at
  // start. The download takes seconds on GitHub, the start 0.1-0.3 s.
  if (config.remote) {
    const done = await restoringLocal;
    if (done && 'error' in done) throw done.error;
  }

  const allowed = await pushAllowed(config);
  const secrets = config.remote ? await writeSecretFiles(config.remote) : undefined;
  state.secretsDir = secrets?.dir;
  save();
  const started = await timed(stats, 'daemon start', async () =>
    startDaemon(
      config.remote,
      await actionStartOptions(config, cacheDir, installed.binary, secrets, allowed, logger),
      secrets,
      policy,
    ),
  ).catch(async (err: unknown) => {
    await restoringLocal;
    throw err;
  });
  const localOutcome = await restoringLocal;
  if (localOutcome && 'error' in localOutcome) {
    // fail-on-cache-error: the step fails as it did before the daemon started beside it.
    await started.daemon.stop();
    throw localOutcome.error;
  }
  const restored = localOutcome?.value;
  if (restored) {
    stats.persistBytesDownloaded = restored.bytesDownloaded;
    for (const warning of restored.warnings) state.warnings.push(warning);
    if (restored.indexKey)
      core.info(`Restored the local cache from ${restored.indexKey} (${restored.blobsRestored} blobs)`);
  }
  const daemon = started.daemon;
  if (started.warning) warn(state, started.warning);
  if (started.remoteUnavailable) state.remoteUnavailable = true;
  state.daemon = daemon.toState();
  if (state.lock) await updateLock(state.lock.dir, job, daemon.pid);
  save();
  // For the save sub-action (it gets no STATE_ of ours): the session, found through cache-dir.
  const handOff = (): Promise<string> =>
    writeSessionRecord(cacheDir, {
      version: 1,
      state,
      inputs: recordedInputs(readInput, secrets),
    });
  await handOff();

  core.setOutput(Outputs.Socket, daemon.socket);
  core.exportVariable(ExportedEnv.Socket, daemon.socket);
  if (daemon.grpcUrl) {
    core.setOutput(Outputs.GrpcUrl, daemon.grpcUrl);
    core.exportVariable(ExportedEnv.GrpcUrl, daemon.grpcUrl);
  }
  if (daemon.bazelUrl) {
    core.setOutput(Outputs.BazelUrl, daemon.bazelUrl);
    core.exportVariable(ExportedEnv.BazelUrl, daemon.bazelUrl);
  }
  const settingsDir = join(jobTempDir(), 'casd-action');
  const settings = await writeToolSettings(settingsDir, {
    socket: daemon.socket,
    grpcUrl: daemon.grpcUrl,
    bazelUrl: daemon.bazelUrl,
    remote: config.remote && toolRemote(remoteDescription(config.remote, secrets, !allowed), allowed),
  });
  core.setOutput(Outputs.Bazelrc, settings.bazelrc);
  core.setOutput(Outputs.ReccEnv, settings.reccEnv);
  core.setOutput(Outputs.BuildstreamConf, settings.buildstreamConf);

  if (!config.saveLocalCache && !config.lookupOnly && packNames(join(cacheDir, PACKS_DIR)).length > 0) {
    // An earlier job's capture into a pack, pushed to the remote and not persisted: before the
    // restore, so that restore-links finds object files to link.
    await phase('making packed blobs of an earlier job available to casd', () =>
      timed(stats, 'install restored blobs', async () => {
        const store = new CasStore({ cacheDir, connection: daemon.connection(), logger });
        const done = await store.unpackAll();
        if (done.installed > 0)
          core.info(`Made ${done.installed} packed blobs of an earlier job available to casd`);
      }),
    );
  }
  // What the restore checked out of the key's tree (RestoreOutcome.keyTreeBlobs).
  let keyTreeBlobs: Set<string> | undefined;
  if (config.refs.length > 0 || config.key) {
    const what = config.lookupOnly ? 'looking up keys' : 'restoring refs';
    // restore.ts and lookup.ts read the cache directory from the config: the one in use.
    const inUse: ActionConfig = { ...config, cacheDir };
    // The remote, described once: its TLS material and token as the job's files.
    const reading =
      config.remote && !state.remoteUnavailable ? remoteDescription(config.remote, secrets, true) : undefined;
    const restore = (): Promise<RestoreOutcome> =>
      config.lookupOnly
        ? lookupRequested(inUse, daemon.connection(), reading, state.persistPrefix)
        : restoreRequested(inUse, daemon.connection(), reading);
    await phase(what, () =>
      timed(stats, config.lookupOnly ? 'lookup' : 'restore refs', async () => {
        const done = await withDeadline(what, config.restoreTimeoutMs, restore);
        state.matchedKey = done.matchedKey;
        state.cacheHit = done.cacheHit;
        state.restoredKeyRoot = done.restoredKeyRoot;
        state.restoredKeyContent = done.restoredKeyContent;
        state.refsRestored.push(...done.refsRestored);
        state.refsMissing.push(...done.refsMissing);
        stats.blobsNeeded += done.blobsNeeded;
        stats.blobsFetched += done.blobsFetched;
        stats.bytesFetched += done.bytesFetched;
        stats.persistBytesDownloaded += done.persistBytesDownloaded;
        state.warnings.push(...done.warnings);
        keyTreeBlobs = done.keyTreeBlobs;
        if (done.error !== undefined) throw done.error;
      }),
    );
  }
  if (config.saveLocalCache && !config.remote && !config.lookupOnly) {
    // casd serves what the job's tools ask for: the restored blobs but the `path` tree's.
    await phase('making the restored local cache available to casd', () =>
      timed(stats, 'install restored blobs', async () => {
        const store = new CasStore({ cacheDir, connection: daemon.connection(), logger });
        try {
          const kept = state.restoredKeyRoot ? [parseDigest(state.restoredKeyRoot)] : [];
          const done = await store.installPacked(keyTreeBlobs ?? kept);
          if (done.installed > 0) core.info(`Made ${done.installed} restored blobs available to casd`);
        } finally {
          await store.packs.close();
        }
      }),
    );
  }
  core.setOutput(Outputs.CacheHit, String(state.cacheHit));
  core.setOutput(Outputs.MatchedKey, state.matchedKey ?? '');
  core.setOutput(Outputs.CachePrimaryKey, config.key ?? '');
  core.setOutput(Outputs.CacheMatchedKey, state.matchedKey ?? '');
  core.setOutput(Outputs.RestoredRefs, state.refsRestored.join('\n'));
  state.failedOnMiss = config.failOnCacheMiss && !state.matchedKey ? true : undefined;
  save();
  if (state.failedOnMiss) {
    // Why here and not in post: no later step needs the daemon, and the restore sub-action
    // has no post step. The session ends saving nothing (see saveSkipped); trouble ending it
    // is a warning, so that the step fails with the miss.
    await guarded(state, 'stopping the cache', () => finishSession(state, readConfig()));
    throw cacheMissError(config);
  }
  await handOff();
}

/** A promise's outcome as a value, never a rejection. */
function settled<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}
