import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RemoteConfig } from './inputs.js';

/** Paths of the credential files casd reads (it takes certificates and tokens by path). */
export interface SecretFiles {
  dir: string;
  serverCertPath?: string;
  clientCertPath?: string;
  clientKeyPath?: string;
  tokenPath?: string;
}

async function writePrivate(path: string, data: Buffer | string): Promise<string> {
  await writeFile(path, data, { mode: 0o600 });
  // The mode given to writeFile is masked by the umask; make sure it is exactly 0600.
  await chmod(path, 0o600);
  return path;
}

/**
 * Writes the remote's certificates, key and token into a private directory (0700, files
 * 0600) under RUNNER_TEMP; the post step removes it with removeSecretFiles.
 */
export async function writeSecretFiles(
  remote: RemoteConfig,
  parent = process.env.RUNNER_TEMP || tmpdir(),
): Promise<SecretFiles> {
  const dir = await mkdtemp(join(parent, 'casd-secrets-'));
  await chmod(dir, 0o700);
  const files: SecretFiles = { dir };
  if (remote.serverCert)
    files.serverCertPath = await writePrivate(join(dir, 'server-ca.pem'), remote.serverCert);
  if (remote.clientCert)
    files.clientCertPath = await writePrivate(join(dir, 'client-cert.pem'), remote.clientCert);
  if (remote.clientKey)
    files.clientKeyPath = await writePrivate(join(dir, 'client-key.pem'), remote.clientKey);
  if (remote.token) files.tokenPath = await writePrivate(join(dir, 'token'), remote.token);
  else if (remote.tokenFile) files.tokenPath = remote.tokenFile;
  return files;
}

/** Removes what writeSecretFiles wrote. */
export async function removeSecretFiles(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}
