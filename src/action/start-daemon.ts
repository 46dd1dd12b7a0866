import { CasdDaemon, daemonStartOptions, type StartOptions } from '../casd/index.js';
import { CasError, describeError } from '../errors.js';
import { unary } from '../grpc/call.js';
import { Connection } from '../grpc/connection.js';
import type { Logger } from '../logger.js';
import { casdProxyFlags } from '../settings/remote.js';
import { throwIfFailsNow, type TroublePolicy } from './guard.js';
import type { ActionConfig, RemoteConfig } from './inputs.js';
import { remoteDescription, type SecretFiles } from './secret-files.js';
import { REMOTE_PROBE_MS } from './options.js';

/** The daemon's start options from the action's config, through the library's one builder. */
export function actionStartOptions(
  config: ActionConfig,
  cacheDir: string,
  binary: string,
  secrets: SecretFiles | undefined,
  pushAllowed: boolean,
  logger: Logger,
): Promise<StartOptions> {
  return daemonStartOptions({
    binary,
    cacheDir,
    logLevel: config.logLevel,
    quota: config.quota,
    quotaLow: config.quotaLow,
    reservedBytes: config.reservedBytes,
    protectSessionBlobs: config.protectSessionBlobs,
    listen: config.listen ? `${config.listen.host}:${config.listen.port}` : undefined,
    bazelBridge: config.listen !== undefined,
    // casd proxies the CAS, Remote Asset and Action Cache, all through instance "".
    remote: config.remote && casdProxyFlags(remoteDescription(config.remote, secrets, !pushAllowed)),
    logger,
  });
}

/**
 * Asks the remote for its capabilities, briefly: a remote that is down must not stall the job.
 * Reads the token from the job's one token file, as casd does.
 */
async function remoteAnswers(
  remote: RemoteConfig,
  tokenPath: string | undefined,
): Promise<string | undefined> {
  const connection = new Connection(remote.endpoint, {
    serverCert: remote.serverCert,
    clientCert: remote.clientCert,
    clientKey: remote.clientKey,
    tokenFile: tokenPath,
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

/** What startDaemon did. */
export interface StartedDaemon {
  daemon: CasdDaemon;
  /** The remote did not answer: the daemon runs local-only and post pushes nothing. */
  remoteUnavailable: boolean;
  /** Why, when the remote was unavailable: for the caller to show and keep for the summary. */
  warning?: string;
}

/**
 * Starts the daemon detached (it serves the rest of the job; post stops it). casd exits at
 * start when its remote does not answer, so a remote that is down means a local-only daemon
 * and a warning returned, never a failed job (unless `policy` says fail-on-cache-error: then
 * it throws CasError('remote-unavailable')).
 */
export async function startDaemon(
  remote: RemoteConfig | undefined,
  options: StartOptions,
  secrets: SecretFiles | undefined,
  policy: TroublePolicy,
): Promise<StartedDaemon> {
  const localOnly = async (why: string): Promise<StartedDaemon> => {
    const warning = `remote ${remote!.endpoint.text} is unavailable (${why}); using the local cache only`;
    throwIfFailsNow(policy, new CasError('remote-unavailable', `remote ${remote!.endpoint.text}: ${why}`));
    const daemon = await CasdDaemon.start({ ...options, remote: undefined, detach: true });
    return { daemon, remoteUnavailable: true, warning };
  };
  if (options.remote && remote) {
    const problem = await remoteAnswers(remote, secrets?.tokenPath);
    if (problem) return localOnly(problem);
  }
  try {
    return { daemon: await CasdDaemon.start({ ...options, detach: true }), remoteUnavailable: false };
  } catch (err) {
    if (!options.remote) throw err;
    return localOnly(describeError(err).split('\n')[0]);
  }
}
