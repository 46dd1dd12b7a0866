import { type CasdRemoteFlags, proxyFlags } from '../casd/args.js';
import { checkTokenTransport, type Endpoint } from '../grpc/endpoint.js';

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
