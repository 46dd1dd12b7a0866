import type { RemoteSpec } from '../cas/remote/remote.js';
import { remoteSpecFrom } from '../settings/remote.js';
import type { RemoteSettings } from './config.js';

/** The library's RemoteSpec from the CLI settings (certificates read from their files). */
export function remoteSpec(remote: RemoteSettings): RemoteSpec {
  return remoteSpecFrom(remote, remote.url);
}
