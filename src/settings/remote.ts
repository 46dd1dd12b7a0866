import { readFileSync } from 'node:fs';
import { type CasdRemoteFlags, proxyFlags } from '../casd/args.js';
import type { RemoteSpec } from '../cas/remote/remote.js';
import { CasError } from '../errors.js';
import { casdRemoteUrl, checkTokenTransport, type Endpoint } from '../grpc/endpoint.js';
import type { ToolEndpoints } from './tool-settings.js';

/**
 * A remote as both front ends hand it to the library once parsed: where it is, the instance,
 * and its TLS material and token as files (casd takes them by path). The token is always a
 * file: the CLI's --token-file, or the one file the action writes for the job.
 */
export interface RemoteDescription {
  endpoint: Endpoint;
  instanceName: string;
  /** Remote Asset endpoint, when the deployment splits it from the CAS. */
  assetEndpoint?: Endpoint;
  /** Action Cache endpoint, when the deployment splits it from the CAS. */
  actionCacheEndpoint?: Endpoint;
  serverCertPath?: string;
  clientCertPath?: string;
  clientKeyPath?: string;
  /** File holding the bearer token; casd and our own channels re-read it when it changes. */
  tokenFile?: string;
  /** Never write to the remote. */
  readOnly: boolean;
  /** zstd where the remote advertises it (default true). */
  compression?: boolean;
}

/**
 * casd's flags proxying the CAS, Remote Asset and Action Cache to `remote` (each defaulting
 * to the CAS endpoint). Throws CasError('invalid-input') when a token would go over plaintext.
 */
export function casdProxyFlags(remote: RemoteDescription): CasdRemoteFlags {
  if (remote.tokenFile) checkTokenTransport(remote.endpoint);
  return proxyFlags(
    { cas: remote.endpoint, ra: remote.assetEndpoint, ac: remote.actionCacheEndpoint },
    {
      instance: remote.instanceName,
      serverCertPath: remote.serverCertPath,
      clientCertPath: remote.clientCertPath,
      clientKeyPath: remote.clientKeyPath,
      tokenPath: remote.tokenFile,
    },
    remote.readOnly,
  );
}

/** The remote as the settings files name it (BuildStream takes http(s):// URLs and paths). */
export function toolRemote(remote: RemoteDescription, push: boolean): NonNullable<ToolEndpoints['remote']> {
  return {
    url: casdRemoteUrl(remote.endpoint),
    instanceName: remote.instanceName || undefined,
    serverCertPath: remote.serverCertPath,
    clientCertPath: remote.clientCertPath,
    clientKeyPath: remote.clientKeyPath,
    tokenPath: remote.tokenFile,
    push: push && !remote.readOnly,
  };
}

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

/**
 * The library's RemoteSpec (for Remote.register) from `remote`: certificates read from their
 * files, the token by its file. `url` is how the user wrote the remote (for messages).
 */
export function remoteSpecFrom(remote: RemoteDescription, url = remote.endpoint.text): RemoteSpec {
  return {
    url,
    instanceName: remote.instanceName,
    serverCert: readPem(remote.serverCertPath, '--server-cert'),
    clientCert: readPem(remote.clientCertPath, '--client-cert'),
    clientKey: readPem(remote.clientKeyPath, '--client-key'),
    tokenFile: remote.tokenFile,
    assetUrl: remote.assetEndpoint?.text,
    readOnly: remote.readOnly,
    compression: remote.compression,
  };
}
