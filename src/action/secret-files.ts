import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RemoteDescription } from '../settings/remote.js';
import { jobTempDir } from '../util/temp.js';
import type { RemoteConfig } from './inputs.js';

/** Paths of the credential files casd reads (it takes certificates and tokens by path). */
export interface SecretFiles {
  dir: string;
  serverCertPath?: string;
  clientCertPath?: string;
  clientKeyPath?: string;
  /** The job's one token file: the `token` input written out, or the `token-file` input. */
  tokenPath?: string;
}

/** Where writeSecretFiles puts each file of `remote` in `dir`; the post step finds them again. */
export function secretFilePaths(remote: RemoteConfig, dir: string): SecretFiles {
  return {
    dir,
    serverCertPath: remote.serverCert ? join(dir, 'server-ca.pem') : undefined,
    clientCertPath: remote.clientCert ? join(dir, 'client-cert.pem') : undefined,
    clientKeyPath: remote.clientKey ? join(dir, 'client-key.pem') : undefined,
    tokenPath: remote.token ? join(dir, 'token') : remote.tokenFile,
  };
}

async function writePrivate(path: string | undefined, data: Buffer | string | undefined): Promise<void> {
  if (path === undefined || data === undefined) return;
  await writeFile(path, data, { mode: 0o600 });
  // The mode given to writeFile is masked by the umask; make sure it is exactly 0600.
  await chmod(path, 0o600);
}

/**
 * Writes the remote's certificates, key and token into a private directory (0700, files
 * 0600) under RUNNER_TEMP; the post step removes it with removeSecretFiles. The only place
 * the job writes the token: everything after reads it from `tokenPath`.
 */
export async function writeSecretFiles(remote: RemoteConfig, parent = jobTempDir()): Promise<SecretFiles> {
  const dir = await mkdtemp(join(parent, 'casd-secrets-'));
  await chmod(dir, 0o700);
  const files = secretFilePaths(remote, dir);
  await writePrivate(files.serverCertPath, remote.serverCert);
  await writePrivate(files.clientCertPath, remote.clientCert);
  await writePrivate(files.clientKeyPath, remote.clientKey);
  if (remote.token) await writePrivate(files.tokenPath, remote.token);
  return files;
}

/**
 * The remote as the library takes it (RemoteDescription): the parsed inputs, with the TLS
 * material and the token as the files writeSecretFiles wrote (`secrets`).
 */
export function remoteDescription(
  remote: RemoteConfig,
  secrets: SecretFiles | undefined,
  readOnly: boolean,
): RemoteDescription {
  return {
    endpoint: remote.endpoint,
    instanceName: remote.instanceName,
    assetEndpoint: remote.assetEndpoint,
    actionCacheEndpoint: remote.actionCacheEndpoint,
    serverCertPath: secrets?.serverCertPath,
    clientCertPath: secrets?.clientCertPath,
    clientKeyPath: secrets?.clientKeyPath,
    tokenFile: secrets?.tokenPath,
    readOnly,
    compression: remote.compression,
  };
}

/** Removes what writeSecretFiles wrote. */
export async function removeSecretFiles(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}
