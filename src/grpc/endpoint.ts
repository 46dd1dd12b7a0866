import { CasError } from '../errors.js';

/** A parsed remote or daemon address. */
export interface Endpoint {
  /** The text the user gave, for messages. */
  readonly text: string;
  readonly kind: 'unix' | 'tcp';
  /** TLS is used (grpcs:// or https://). */
  readonly secure: boolean;
  /** The target string grpc-js dials: `unix:///abs/path`, `unix:rel/path` or `host:port`. */
  readonly target: string;
  readonly socketPath?: string;
  readonly host?: string;
  readonly port?: number;
}

export const ACCEPTED_ENDPOINT_FORMS =
  'unix:/path/to/socket, unix:///path/to/socket, grpc://host:port, grpcs://host[:port], ' +
  'http://host:port (same as grpc://), https://host[:port] (same as grpcs://)';

function invalid(text: string, why: string): CasError {
  return new CasError(
    'invalid-endpoint',
    `endpoint "${text}" ${why}; accepted forms: ${ACCEPTED_ENDPOINT_FORMS}`,
  );
}

/** Parses an endpoint in any of the accepted forms; throws a CasError quoting the value. */
export function parseEndpoint(text: string): Endpoint {
  const value = text.trim();
  if (value === '') throw invalid(text, 'is empty');
  if (value.startsWith('unix:')) {
    let path = value.slice('unix:'.length);
    if (path.startsWith('//')) {
      path = path.slice(2);
      if (!path.startsWith('/'))
        throw invalid(text, 'must use unix:///absolute/path (three slashes) or unix:/path');
    }
    if (path === '') throw invalid(text, 'has no socket path');
    const target = path.startsWith('/') ? `unix://${path}` : `unix:${path}`;
    return { text: value, kind: 'unix', secure: false, target, socketPath: path };
  }
  const scheme = /^([a-z]+):\/\/(.*)$/i.exec(value);
  if (!scheme) throw invalid(text, 'has no scheme');
  const name = scheme[1].toLowerCase();
  let secure: boolean;
  if (name === 'grpc' || name === 'http') secure = false;
  else if (name === 'grpcs' || name === 'https') secure = true;
  else throw invalid(text, `has unknown scheme "${scheme[1]}"`);
  const rest = scheme[2].replace(/\/+$/, '');
  if (rest.includes('/'))
    throw invalid(text, 'must not have a path (put the instance name in its own setting)');
  if (rest === '') throw invalid(text, 'has no host');
  const hostPort = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::([^:]*))?$/.exec(rest);
  if (!hostPort) throw invalid(text, `has no valid host in "${rest}"`);
  const host = hostPort[1];
  let port: number;
  if (hostPort[2] !== undefined) {
    if (!/^\d{1,5}$/.test(hostPort[2]) || Number(hostPort[2]) < 1 || Number(hostPort[2]) > 65535)
      throw invalid(text, `has port "${hostPort[2]}", expected a number in 1-65535`);
    port = Number(hostPort[2]);
  } else if (secure) {
    port = 443;
  } else {
    throw invalid(text, 'needs a port (grpc://host:port)');
  }
  return { text: value, kind: 'tcp', secure, target: `${host}:${port}`, host, port };
}

/** The form buildbox-casd's `--cas-remote` and GetInstanceNameForRemotes expect. */
export function casdRemoteUrl(endpoint: Endpoint): string {
  if (endpoint.kind === 'unix') return `unix:${endpoint.socketPath}`;
  return `${endpoint.secure ? 'https' : 'http'}://${endpoint.target}`;
}

/** The canonical address to print and to hand to other tools (`unix:/path`, `grpc://h:p`). */
export function formatEndpoint(endpoint: Endpoint): string {
  if (endpoint.kind === 'unix') return `unix:${endpoint.socketPath}`;
  return `${endpoint.secure ? 'grpcs' : 'grpc'}://${endpoint.target}`;
}

/**
 * The one rule for bearer tokens: only over TLS. Returns why a token cannot go to `endpoint`,
 * or undefined when it can. Why: buildbox-casd refuses access tokens on plaintext channels
 * ("Secure Channel options cannot be used with this URL"), so every front end says so first,
 * in these words.
 */
export function tokenRefusal(endpoint: Endpoint): string | undefined {
  if (endpoint.secure) return undefined;
  return `remote ${endpoint.text}: a token can only be sent over TLS; use grpcs:// or https:// (buildbox-casd sends tokens only over TLS and refuses them on plaintext channels)`;
}

/** Throws CasError('invalid-input') when a token may not be sent to `endpoint` (tokenRefusal). */
export function checkTokenTransport(endpoint: Endpoint): void {
  const refusal = tokenRefusal(endpoint);
  if (refusal) throw new CasError('invalid-input', refusal);
}
