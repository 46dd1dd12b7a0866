import { CasError } from '../errors.js';
import { casdRemoteUrl, type Endpoint } from '../grpc/endpoint.js';
import { REMOTE_REQUEST_TIMEOUT_SECONDS, REMOTE_RETRY_LIMIT } from '../grpc/options.js';

/** casd's log levels, quietest first. */
export const CASD_LOG_LEVELS = ['error', 'warning', 'info', 'debug', 'trace'] as const;
export type CasdLogLevel = (typeof CASD_LOG_LEVELS)[number];

/** Connection settings casd uses for one remote service (CAS, Remote Asset or Action Cache). */
export interface ServiceFlags {
  /** In casd's form: `http://host:port`, `https://host[:port]` or `unix:/path`. */
  url: string;
  instance?: string;
  /** PEM files, passed to casd by path. */
  serverCertPath?: string;
  clientKeyPath?: string;
  clientCertPath?: string;
  /** File holding a bearer token; casd re-reads it every `tokenReloadMinutes`. */
  accessTokenPath?: string;
  tokenReloadMinutes?: number;
  keepaliveSeconds?: number;
  retryLimit?: number;
  retryDelayMs?: number;
  requestTimeoutSeconds?: number;
}

/** The remotes casd proxies to. */
export interface CasdRemoteFlags {
  cas?: ServiceFlags;
  /** Remote Asset. */
  ra?: ServiceFlags;
  /** Action Cache. */
  ac?: ServiceFlags;
  /** Never write to the remote. */
  readOnly?: boolean;
}

/** Everything that decides casd's command line. */
/** Where a remote is and how to authenticate to it, with credentials as files (casd reads paths). */
export interface RemoteFiles {
  instance?: string;
  serverCertPath?: string;
  clientCertPath?: string;
  clientKeyPath?: string;
  tokenPath?: string;
}

/**
 * casd's flags for one proxied service. A remote that stops answering must not hang the
 * build behind the daemon: casd retries a few times, then gives the client an error.
 */
export function serviceFlags(endpoint: Endpoint, files: RemoteFiles = {}): ServiceFlags {
  return {
    url: casdRemoteUrl(endpoint),
    instance: files.instance || undefined,
    serverCertPath: files.serverCertPath,
    clientCertPath: files.clientCertPath,
    clientKeyPath: files.clientKeyPath,
    accessTokenPath: files.tokenPath,
    retryLimit: REMOTE_RETRY_LIMIT,
    requestTimeoutSeconds: REMOTE_REQUEST_TIMEOUT_SECONDS,
  };
}

/** casd's flags proxying the CAS, Remote Asset and Action Cache (each may live elsewhere). */
export function proxyFlags(
  endpoints: { cas: Endpoint; ra?: Endpoint; ac?: Endpoint },
  files: RemoteFiles,
  readOnly: boolean,
): CasdRemoteFlags {
  return {
    cas: serviceFlags(endpoints.cas, files),
    ra: serviceFlags(endpoints.ra ?? endpoints.cas, files),
    ac: serviceFlags(endpoints.ac ?? endpoints.cas, files),
    readOnly,
  };
}

export interface DaemonOptions {
  /** Path of the buildbox-casd executable. */
  binary: string;
  /** The local CAS directory (casd's positional "cache path"). */
  cacheDir: string;
  /** Path of the unix socket casd binds (without `unix:`). */
  socketPath: string;
  logLevel?: CasdLogLevel;
  /** High-water mark in bytes; no quota when absent. */
  quotaHighBytes?: number;
  /** Low-water mark, bytes or percent of the high mark; defaults to half the high mark. */
  quotaLow?: { bytes: number } | { percent: number };
  /** Disk space casd keeps free. */
  reservedBytes?: number;
  /** Never expire blobs used in this session; only emitted when a quota is set. */
  protectSessionBlobs?: boolean;
  /** Extra addresses to bind, e.g. `127.0.0.1:8980`. */
  binds?: string[];
  remote?: CasdRemoteFlags;
  /** Passed through verbatim, before the cache directory. */
  extraArgs?: string[];
}

function invalid(message: string): CasError {
  return new CasError('invalid-input', message);
}

function checkCount(value: number | undefined, what: string): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${what} must be a whole number of at least 0, got ${value}`);
  }
}

function quotaArgs(options: DaemonOptions): string[] {
  const high = options.quotaHighBytes;
  const low = options.quotaLow;
  checkCount(high, 'quota-high (bytes)');
  if (high === undefined) {
    if (low !== undefined) throw invalid('quota-low was given without quota-high; set a quota first');
    return [];
  }
  if (high <= 0) throw invalid(`quota-high must be above 0 bytes, got ${high}`);
  const args = [`--quota-high=${high}`];
  if (low === undefined) {
    // casd's own default is 65%; the reference (and our interface) default to half the quota.
    args.push(`--quota-low=${Math.floor(high / 2)}`);
  } else if ('bytes' in low) {
    checkCount(low.bytes, 'quota-low (bytes)');
    if (low.bytes > high) {
      throw invalid(`quota-low (${low.bytes} bytes) must not be above quota-high (${high} bytes)`);
    }
    args.push(`--quota-low=${low.bytes}`);
  } else {
    if (!(low.percent > 0 && low.percent <= 100)) {
      throw invalid(`quota-low must be a percentage above 0% and at most 100%, got ${low.percent}%`);
    }
    args.push(`--quota-low=${low.percent}%`);
  }
  if (options.protectSessionBlobs) args.push('--protect-session-blobs');
  return args;
}

const REMOTE_URL = /^(https?:\/\/[^/\s]+\/?|unix:\S+)$/;

function serviceArgs(prefix: 'cas' | 'ra' | 'ac', service: ServiceFlags): string[] {
  if (!REMOTE_URL.test(service.url)) {
    throw invalid(
      `${prefix}-remote "${service.url}" is not a URL casd accepts; expected http://host:port, https://host[:port] or unix:/path`,
    );
  }
  const args = [`--${prefix}-remote=${service.url}`];
  const add = (flag: string, value: string | number | undefined): void => {
    if (value !== undefined && value !== '') args.push(`--${prefix}-${flag}=${value}`);
  };
  add('instance', service.instance);
  add('server-cert', service.serverCertPath);
  add('client-key', service.clientKeyPath);
  add('client-cert', service.clientCertPath);
  add('access-token', service.accessTokenPath);
  const numbers: [string, number | undefined][] = [
    ['token-reload-interval', service.tokenReloadMinutes],
    ['keepalive-time', service.keepaliveSeconds],
    ['retry-limit', service.retryLimit],
    ['retry-delay', service.retryDelayMs],
    ['request-timeout', service.requestTimeoutSeconds],
  ];
  for (const [flag, value] of numbers) {
    checkCount(value, `${prefix}-${flag}`);
    add(flag, value);
  }
  return args;
}

/**
 * Builds buildbox-casd's command line (without the binary) from `options`: the unix socket and
 * extra binds, log level, quota marks, reserved space, session-blob protection, remotes, extra
 * arguments, and last the cache directory. Pure: touches no files.
 * Throws CasError('invalid-input') for an inconsistent quota, a malformed remote URL or a
 * negative count.
 */
export function buildCasdArgs(options: DaemonOptions): string[] {
  if (!options.cacheDir) throw invalid('the cache directory is empty; give a path for the local CAS');
  if (!options.socketPath) throw invalid('the socket path is empty');
  if (options.logLevel !== undefined && !CASD_LOG_LEVELS.includes(options.logLevel)) {
    throw invalid(`log level "${options.logLevel}" is not one of ${CASD_LOG_LEVELS.join(', ')}`);
  }
  const args = [`--bind=unix:${options.socketPath}`];
  for (const bind of options.binds ?? []) args.push(`--bind=${bind}`);
  if (options.logLevel) args.push(`--log-level=${options.logLevel}`);
  args.push(...quotaArgs(options));
  checkCount(options.reservedBytes, 'reserved (bytes)');
  if (options.reservedBytes !== undefined) args.push(`--reserved=${options.reservedBytes}`);
  const remote = options.remote;
  if (remote?.cas) args.push(...serviceArgs('cas', remote.cas));
  if (remote?.ra) args.push(...serviceArgs('ra', remote.ra));
  if (remote?.ac) args.push(...serviceArgs('ac', remote.ac));
  if (remote?.readOnly) args.push('--read-only-remote');
  args.push(...(options.extraArgs ?? []));
  args.push(options.cacheDir);
  return args;
}
