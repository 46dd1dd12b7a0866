import { statfs } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import type { CasdRemoteFlags, ServiceFlags, StartOptions } from '../casd/index.js';
import { casdRemoteUrl, type Endpoint } from '../grpc/endpoint.js';
import type { Logger } from '../logger.js';
import { resolveSize } from '../util/size.js';
import type { ActionConfig } from './inputs.js';
import type { SecretFiles } from './secret-files.js';

/** Size of the filesystem holding `dir`, for quotas given as a percentage. */
export async function filesystemBytes(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const stats = await statfs(dir);
  return stats.blocks * stats.bsize;
}

function serviceFlags(endpoint: Endpoint, instance: string, secrets: SecretFiles | undefined): ServiceFlags {
  return {
    url: casdRemoteUrl(endpoint),
    instance: instance || undefined,
    serverCertPath: secrets?.serverCertPath,
    clientCertPath: secrets?.clientCertPath,
    clientKeyPath: secrets?.clientKeyPath,
    accessTokenPath: secrets?.tokenPath,
    // A remote that stops answering must not hang the build: casd retries, then gives up.
    retryLimit: 3,
    requestTimeoutSeconds: 120,
  };
}

/** casd's remote flags: the CAS, Remote Asset and Action Cache all proxied through `""`. */
export function remoteFlags(
  config: ActionConfig,
  secrets: SecretFiles | undefined,
  pushAllowed: boolean,
): CasdRemoteFlags | undefined {
  const remote = config.remote;
  if (!remote) return undefined;
  return {
    cas: serviceFlags(remote.endpoint, remote.instanceName, secrets),
    ra: serviceFlags(remote.assetEndpoint ?? remote.endpoint, remote.instanceName, secrets),
    ac: serviceFlags(remote.actionCacheEndpoint ?? remote.endpoint, remote.instanceName, secrets),
    readOnly: !pushAllowed,
  };
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
    remote: remoteFlags(config, secrets, pushAllowed),
    logger,
  };
}
