import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { jobTempDir } from '../util/temp.js';
import { basename, join } from 'node:path';
import { CasError } from '../errors.js';

/** Prefix of the private directories that hold a daemon's socket. */
export const SOCKET_DIR_PREFIX = 'casd-';
const SOCKET_NAME = 'casd.sock';

/** Longest unix socket path the platform takes (sun_path minus its terminating NUL). */
export function maxSocketPathBytes(platform: NodeJS.Platform = process.platform): number {
  return platform === 'linux' ? 107 : 103;
}

export interface SocketDir {
  dir: string;
  socketPath: string;
}

/**
 * Creates a private (mode 0700) directory for the daemon's socket under the job's temp dir,
 * or under /tmp when that would make the socket path too long for a unix socket.
 * Throws CasError('io') when neither works.
 */
export function makeSocketDir(base = jobTempDir()): SocketDir {
  const limit = maxSocketPathBytes();
  let lastError: unknown;
  for (const root of base === '/tmp' ? ['/tmp'] : [base, '/tmp']) {
    // mkdtemp appends 6 characters; check the final length before creating anything.
    const expected = join(root, `${SOCKET_DIR_PREFIX}XXXXXX`, SOCKET_NAME);
    if (Buffer.byteLength(expected) > limit) continue;
    try {
      const dir = mkdtempSync(join(root, SOCKET_DIR_PREFIX));
      chmodSync(dir, 0o700);
      return { dir, socketPath: join(dir, SOCKET_NAME) };
    } catch (err) {
      lastError = err;
    }
  }
  throw new CasError(
    'io',
    `cannot create a directory for the daemon socket under ${base} or /tmp` +
      (lastError ? `: ${(lastError as Error).message}` : ' (paths too long for a unix socket)'),
    { cause: lastError },
  );
}

/** Removes a socket directory made by `makeSocketDir`; refuses anything else silently. */
export function removeSocketDir(dir: string | undefined): void {
  if (!dir || !basename(dir).startsWith(SOCKET_DIR_PREFIX)) return;
  rmSync(dir, { recursive: true, force: true });
}

/** A TCP address for casd's `--bind`, split up. */
export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Parses `host:port` (`[::1]:port` for IPv6); port 0 means "pick a free one".
 * Throws CasError('invalid-input') naming the value.
 */
export function parseListen(text: string): ListenAddress {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d+)$/.exec(text.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new CasError(
      'invalid-input',
      `listen address "${text}" is not host:port with a port from 0 to 65535, e.g. 127.0.0.1:0`,
    );
  }
  return { host: match[1], port };
}

/**
 * Returns `address` with port 0 replaced by a port that is free right now. casd cannot report
 * the port it picked for `:0`, so we choose one and hand it over.
 */
export async function resolveListen(address: ListenAddress): Promise<ListenAddress> {
  if (address.port !== 0) return address;
  const host = address.host.replace(/^\[|\]$/g, '');
  const port = await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', (err) =>
      reject(
        new CasError('invalid-input', `cannot listen on ${address.host}: ${err.message}`, { cause: err }),
      ),
    );
    server.listen(0, host, () => {
      const bound = server.address();
      server.close(() => resolve(typeof bound === 'object' && bound ? bound.port : 0));
    });
  });
  return { host: address.host, port };
}
