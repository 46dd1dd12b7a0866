import * as core from '@actions/core';
import { CasdDaemon, type StartOptions } from '../casd/index.js';
import { CasError } from '../errors.js';
import { Connection } from '../grpc/connection.js';
import { unary } from '../grpc/call.js';
import { RefStore } from '../cas/refs.js';
import { Remote } from '../cas/remote.js';
import { CasStore } from '../cas/store.js';
import { describeError } from '../errors.js';
import { formatEndpoint } from '../grpc/endpoint.js';
import { writeToolSettings } from '../settings/tool-settings.js';
import { withDeadline } from '../util/deadline.js';
import { ExportedEnv, Inputs, Outputs } from './constants.js';
import { daemonStartOptions } from './daemon-options.js';
import { type ActionConfig, parseInputs, SECRET_INPUTS } from './inputs.js';
import { installCasd } from './install.js';
import { isForkPullRequest } from './job-status.js';
import { restorePaths, stageDirectory } from './key-tree.js';
import { lockCacheDir, updateLock } from './cache-lock.js';
import { actionsLogger } from './logger.js';
import { restorePersisted } from './persist/index.js';
import { emptyStats, timed } from './report.js';
import { findKey, type RestoreContext, ensureRef } from './restore.js';
import { writeSecretFiles } from './secret-files.js';
import { type MainState, saveMainState } from './state.js';
import { formatDigest } from '../cas/digest.js';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

/** How long the main step waits for the remote to answer before going on without it. */
const REMOTE_PROBE_MS = 5_000;

/** Reads an input as the runner provides it; secrets are masked before anything is logged. */
export function readInput(name: Inputs): string {
  const value = core.getInput(name);
  if (SECRET_INPUTS.includes(name) && value.trim() !== '') core.setSecret(value.trim());
  return value;
}

/** Parses every input, masking secrets first. Used by both steps (inputs are visible to post). */
export function readConfig(): ActionConfig {
  for (const name of SECRET_INPUTS) readInput(name);
  return parseInputs(readInput);
}

/** Names this job in lock files: run, attempt, job and process. */
function jobId(): string {
  const env = process.env;
  return `${env.GITHUB_RUN_ID ?? 'local'}-${env.GITHUB_RUN_ATTEMPT ?? '1'}-${env.GITHUB_JOB ?? 'job'}-${process.pid}`;
}

/** The Actions-cache key prefix of the persisted local cache: per OS and architecture. */
export function persistPrefix(): string {
  return `casd-action-${process.env.RUNNER_OS ?? process.platform}-${process.env.RUNNER_ARCH ?? process.arch}`;
}

/** Whether the post step may write to the remote: `push` input, read-only, fork PRs. */
export async function pushAllowed(config: ActionConfig): Promise<boolean> {
  if (!config.remote || config.readOnly || config.push === 'false') return false;
  if (config.push === 'true') return true;
  return !(await isForkPullRequest(process.env));
}

/**
 * Cache trouble becomes a warning (kept for the summary) unless fail-on-cache-error is set.
 * Returns undefined when `body` failed.
 */
async function guarded<T>(
  config: ActionConfig,
  state: MainState,
  what: string,
  body: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await body();
  } catch (err) {
    if (config.failOnCacheError) throw err;
    const message = `${what}: ${describeError(err)}`;
    state.warnings.push(message);
    core.warning(message);
    return undefined;
  }
}

/**
 * The main step: validate inputs, install casd, restore the local cache from the Actions
 * cache, start the daemon, restore refs and keys, export the socket and settings files.
 */
export async function mainStep(): Promise<void> {
  let config = readConfig();
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

  const job = jobId();
  const lock = await lockCacheDir(config.cacheDir, job);
  if (lock.shared) {
    state.lock = { dir: config.cacheDir, job };
  } else {
    core.notice(
      `${config.cacheDir} is in use by another job${lock.holder ? ` (${lock.holder})` : ''}; this job uses ${lock.dir}`,
    );
    config = { ...config, cacheDir: lock.dir };
  }
  state.cacheDir = config.cacheDir;
  save();

  const installed = await timed(stats, 'install', () => installCasd({ ...config.install, logger }));
  state.casdVersion = installed.version;
  core.setOutput(Outputs.CasdVersion, installed.version);

  if (config.saveLocalCache) {
    state.persistPrefix = persistPrefix();
    const restored = await guarded(config, state, 'restoring the local cache from the Actions cache', () =>
      timed(stats, 'restore local cache', () =>
        restorePersisted({
          cacheDir: config.cacheDir,
          prefix: state.persistPrefix!,
          timeoutMs: config.restoreTimeoutMs,
          failOnError: config.failOnCacheError,
          logger,
        }),
      ),
    );
    if (restored) {
      stats.persistBytesDownloaded = restored.bytesDownloaded;
      for (const warning of restored.warnings) state.warnings.push(warning);
      if (restored.indexKey)
        core.info(`Restored the local cache from ${restored.indexKey} (${restored.blobsRestored} blobs)`);
    }
  }

  const allowed = await pushAllowed(config);
  const secrets = config.remote ? await writeSecretFiles(config.remote) : undefined;
  state.secretsDir = secrets?.dir;
  save();
  const daemon = await timed(stats, 'daemon start', async () =>
    startDaemon(config, await daemonStartOptions(config, installed.binary, secrets, allowed, logger), state),
  );
  state.daemon = daemon.toState();
  if (state.lock) await updateLock(state.lock.dir, job, daemon.pid);
  save();

  core.setOutput(Outputs.Socket, daemon.socket);
  core.exportVariable(ExportedEnv.Socket, daemon.socket);
  if (daemon.grpcUrl) {
    core.setOutput(Outputs.GrpcUrl, daemon.grpcUrl);
    core.exportVariable(ExportedEnv.GrpcUrl, daemon.grpcUrl);
  }
  const settingsDir = join(process.env.RUNNER_TEMP || tmpdir(), 'casd-action');
  const settings = await writeToolSettings(settingsDir, {
    socket: daemon.socket,
    grpcUrl: daemon.grpcUrl,
    remote: config.remote
      ? {
          url: formatEndpoint(config.remote.endpoint)
            .replace(/^grpc:/, 'http:')
            .replace(/^grpcs:/, 'https:'),
          instanceName: config.remote.instanceName || undefined,
          serverCertPath: secrets?.serverCertPath,
          clientCertPath: secrets?.clientCertPath,
          clientKeyPath: secrets?.clientKeyPath,
          tokenPath: secrets?.tokenPath,
        }
      : undefined,
  });
  core.setOutput(Outputs.Bazelrc, settings.bazelrc);
  core.setOutput(Outputs.ReccEnv, settings.reccEnv);
  core.setOutput(Outputs.BuildstreamConf, settings.buildstreamConf);

  if (config.refs.length > 0 || config.key) {
    await guarded(config, state, 'restoring refs', () =>
      timed(stats, 'restore refs', () =>
        withDeadline('restoring refs', config.restoreTimeoutMs, () => restoreRefs(config, daemon, state)),
      ),
    );
  }
  core.setOutput(Outputs.CacheHit, String(state.cacheHit));
  core.setOutput(Outputs.MatchedKey, state.matchedKey ?? '');
  core.setOutput(Outputs.RestoredRefs, state.refsRestored.join('\n'));
  save();
}

/** Asks the remote for its capabilities, briefly: a remote that is down must not stall the job. */
async function remoteAnswers(config: ActionConfig): Promise<string | undefined> {
  const remote = config.remote!;
  const connection = new Connection(remote.endpoint, {
    serverCert: remote.serverCert,
    clientCert: remote.clientCert,
    clientKey: remote.clientKey,
    token: remote.token,
    tokenFile: remote.tokenFile,
  });
  try {
    await unary(
      connection.capabilities.getCapabilities.bind(connection.capabilities),
      { instanceName: remote.instanceName },
      { timeoutMs: REMOTE_PROBE_MS },
    );
    return undefined;
  } catch (err) {
    return describeError(err);
  } finally {
    connection.close();
  }
}

/**
 * Starts the daemon detached (it serves the rest of the job; post stops it). casd exits at
 * start when its remote does not answer, so a remote that is down means a local-only daemon
 * and a warning, never a failed job (unless fail-on-cache-error).
 */
async function startDaemon(
  config: ActionConfig,
  options: StartOptions,
  state: MainState,
): Promise<CasdDaemon> {
  const localOnly = async (why: string): Promise<CasdDaemon> => {
    if (config.failOnCacheError)
      throw new CasError('remote-unavailable', `remote ${config.remote!.endpoint.text}: ${why}`);
    const message = `remote ${config.remote!.endpoint.text} is unavailable (${why}); using the local cache only`;
    state.warnings.push(message);
    state.remoteUnavailable = true;
    core.warning(message);
    return CasdDaemon.start({ ...options, remote: undefined, detach: true });
  };
  if (options.remote) {
    const problem = await remoteAnswers(config);
    if (problem) return localOnly(problem);
  }
  try {
    return await CasdDaemon.start({ ...options, detach: true });
  } catch (err) {
    if (!options.remote) throw err;
    return localOnly(describeError(err).split('\n')[0]);
  }
}

async function restoreRefs(config: ActionConfig, daemon: CasdDaemon, state: MainState): Promise<void> {
  const connection = daemon.connection();
  const store = new CasStore({ cacheDir: config.cacheDir, connection, logger: actionsLogger });
  await store.checkLayout();
  const refs = new RefStore(config.cacheDir);
  const remote =
    config.remote && !state.remoteUnavailable
      ? await Remote.register(
          connection,
          {
            url: config.remote.endpoint.text,
            instanceName: config.remote.instanceName,
            serverCert: config.remote.serverCert,
            clientCert: config.remote.clientCert,
            clientKey: config.remote.clientKey,
            token: config.remote.token,
            tokenFile: config.remote.tokenFile,
            assetUrl: config.remote.assetEndpoint?.text,
            readOnly: true,
          },
          { store, logger: actionsLogger, tempDir: process.env.RUNNER_TEMP },
        )
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
