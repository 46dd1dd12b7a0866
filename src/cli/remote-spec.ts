import { readFileSync } from 'node:fs';
import type { RemoteSpec } from '../cas/remote/remote.js';
import { CasError } from '../errors.js';
import type { RemoteSettings } from './config.js';

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CasError(
      'invalid-input',
      `cannot read ${what} file ${path}: ${(err as NodeJS.ErrnoException).code}`,
      {
        cause: err,
      },
    );
  }
}

/** The library's RemoteSpec from the CLI settings (certificates read from their files). */
export function remoteSpec(remote: RemoteSettings): RemoteSpec {
  return {
    url: remote.url,
    instanceName: remote.instanceName,
    serverCert: readPem(remote.serverCertPath, '--server-cert'),
    clientCert: readPem(remote.clientCertPath, '--client-cert'),
    clientKey: readPem(remote.clientKeyPath, '--client-key'),
    tokenFile: remote.tokenFile,
    readOnly: remote.readOnly,
  };
}
