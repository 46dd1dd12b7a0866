import { mkdir, statfs } from 'node:fs/promises';
import * as core from '@actions/core';
import { CasdDaemon, type CasdRemoteFlags, proxyFlags, type StartOptions } from '../casd/index.js';
import { CasError, describeError } from '../errors.js';
import { unary } from '../grpc/call.js';
import { Connection } from '../grpc/connection.js';
import type { Logger } from '../logger.js';
import { resolveSize } from '../util/size.js';
import type { ActionConfig } from './inputs.js';
import type { SecretFiles } from './secret-files.js';
import type { MainState } from './state.js';

/** How long the main step waits for the remote to answer before going on without it. */
const REMOTE_PROBE_MS = 5_000;

/** Size of the filesystem holding `dir`, for quotas given as a percentage. */
export async function filesystemBytes(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const stats = await statfs(dir);
  return stats.blocks * stats.bsize;
}

/** casd's remote flags: the CAS, Remote Asset and Action Cache all proxied through `""`. */
export function remoteFlags(
  config: ActionConfig,
  secrets: SecretFiles | undefined,
  pushAllowed: boolean,
): CasdRemoteFlags | undefined {
  const remote = config.remote;
  if (!remote) return undefined;
  return proxyFlags(
    { cas: remote.endpoint, ra: remote.assetEndpoint, ac: remote.actionCacheEndpoint },
    { ...secrets, instance: remote.instanceName },
    !pushAllowed,
  );
}

/** The daemon's start options from the action's config. */
export async function daemonStartOptions(
  config: ActionConfig,
  binary: string,
  secrets: SecretFiles | undefined,
  pushAllowed: boolean,
  logger: Logger,
): Promise<StartOptions> {
  const quotaHighBytes = resolveSize(
    config.quota,
    'percent' in config.quota ? await filesystemBytes(config.cacheDir) : 0,
  );
  return {
    binary,
    cacheDir: config.cacheDir,
    logLevel: config.logLevel,
    quotaHighBytes: quotaHighBytes > 0 ? quotaHighBytes : undefined,
    quotaLow: config.quotaLow,
    reservedBytes: config.reservedBytes,
    protectSessionBlobs: config.protectSessionBlobs,
    listen: config.listen ? `${config.listen.host}:${config.listen.port}` : undefined,
    bazelBridge: config.listen !== undefined,
    remote: remoteFlags(config, secrets, pushAllowed),
    logger,
  };
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
export async function startDaemon(
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
