import { existsSync, statSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CasdDaemon,
  type CasdRemoteFlags,
  daemonStartOptions,
  type DaemonState,
  processAlive,
  type StartOptions,
} from '../casd/index.js';
import { CasError } from '../errors.js';
import { unary } from '../grpc/call.js';
import type { Logger } from '../logger.js';
import { casdProxyFlags } from '../settings/remote.js';
import { type CliConfig, locateCasd, type RemoteSettings } from './config.js';

/** Name of the file, inside the cache directory, that records the daemon `start` left running. */
export const STATE_FILE = 'casd-action-daemon.json';

/** What the state file holds: the daemon's state plus how it was started. */
export interface SavedDaemon extends DaemonState {
  startedAt: string;
  /** The remote casd proxies to, when started with one. */
  remote?: string;
  /** Started by `serve` (foreground) rather than `start`. */
  serve?: boolean;
  /** casd's high-water mark in bytes; absent when it runs without a quota. */
  quotaBytes?: number;
}

/** Path of the state file for `cacheDir`. */
export function stateFilePath(cacheDir: string): string {
  return join(cacheDir, STATE_FILE);
}

/**
 * True when `cacheDir` holds a cache: casd's object store `cas/objects` exists in it. Creates
 * nothing (a command that only reports must not make a cache appear).
 */
export function holdsCache(cacheDir: string): boolean {
  try {
    return statSync(join(cacheDir, 'cas', 'objects')).isDirectory();
  } catch {
    return false;
  }
}

async function answers(socket: string): Promise<boolean> {
  const { Connection } = await import('../grpc/connection.js');
  const connection = new Connection(socket);
  try {
    const caps = connection.capabilities;
    await unary(caps.getCapabilities.bind(caps), { instanceName: '' }, { timeoutMs: 3_000 });
    return true;
  } catch {
    return false;
  } finally {
    connection.close();
  }
}

/**
 * The daemon recorded for `cacheDir` when it still runs and answers; a stale record (dead
 * process, socket gone, no answer) is removed and undefined returned.
 */
export async function findRunning(cacheDir: string, logger: Logger): Promise<SavedDaemon | undefined> {
  const path = stateFilePath(cacheDir);
  let saved: SavedDaemon;
  try {
    saved = JSON.parse(await readFile(path, 'utf8')) as SavedDaemon;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    logger.warning(`ignoring unreadable daemon state ${path}: ${(err as Error).message}`);
    await rm(path, { force: true });
    return undefined;
  }
  const socketPath = typeof saved.socket === 'string' ? saved.socket.replace(/^unix:/, '') : '';
  if (
    Number.isSafeInteger(saved.pid) &&
    saved.pid > 0 &&
    processAlive(saved.pid) &&
    socketPath !== '' &&
    existsSync(socketPath) &&
    (await answers(saved.socket))
  ) {
    return saved;
  }
  logger.debug(`daemon recorded in ${path} (pid ${saved.pid}) is gone; removing the record`);
  await rm(path, { force: true });
  return undefined;
}

/** Records `daemon` as the one running for its cache directory (atomically). */
export async function saveRunning(
  daemon: CasdDaemon,
  extra: { remote?: string; serve?: boolean; quotaBytes?: number },
): Promise<string> {
  const path = stateFilePath(daemon.cacheDir);
  const saved: SavedDaemon = { ...daemon.toState(), startedAt: new Date().toISOString(), ...extra };
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
  return path;
}

/** Removes the record of the running daemon. */
export async function forgetRunning(cacheDir: string): Promise<void> {
  await rm(stateFilePath(cacheDir), { force: true });
}

/** casd's flags to proxy CAS, Remote Asset and Action Cache to the configured remote. */
export function remoteFlags(remote: RemoteSettings | undefined): CasdRemoteFlags | undefined {
  if (!remote) return undefined;
  for (const [what, path] of [
    ['--server-cert', remote.serverCertPath],
    ['--client-cert', remote.clientCertPath],
    ['--client-key', remote.clientKeyPath],
    ['--token-file', remote.tokenFile],
  ] as const) {
    if (path && !existsSync(path)) throw new CasError('invalid-input', `${what} file ${path} does not exist`);
  }
  return casdProxyFlags(remote);
}

/**
 * casd's start options from the CLI settings. With `proxy`, casd proxies its CAS, Remote
 * Asset and Action Cache to the configured remote (what build tools on the socket see);
 * `listen` adds a TCP address (commands that run a daemon only for themselves need none).
 */
export async function startOptions(
  config: CliConfig,
  logger: Logger,
  options: { proxy?: boolean; listen?: string } = {},
): Promise<StartOptions> {
  // Check the remote settings and find casd before creating anything on disk.
  const remote = options.proxy ? remoteFlags(config.remote) : undefined;
  return daemonStartOptions({
    binary: locateCasd(config),
    cacheDir: config.cacheDir,
    logLevel: config.logLevel,
    quota: config.quota,
    quotaLow: config.quotaLow,
    reservedBytes: config.reservedBytes,
    protectSessionBlobs: config.protectSessionBlobs,
    listen: options.listen,
    remote,
    logger,
  });
}

/**
 * Runs `body` with a daemon on the configured cache directory: the one `start` left running
 * (never stopped here), else a fresh one that lives for the duration of `body` and is
 * stopped in order on SIGINT/SIGTERM (the process then exits 130/143).
 */
export async function withDaemon<T>(
  config: CliConfig,
  logger: Logger,
  body: (daemon: CasdDaemon) => Promise<T>,
): Promise<T> {
  const running = await findRunning(config.cacheDir, logger);
  if (running) {
    logger.debug(`using the daemon started earlier (pid ${running.pid}, ${running.socket})`);
    const daemon = CasdDaemon.attach(running, logger);
    try {
      return await body(daemon);
    } finally {
      daemon.connection().close();
    }
  }
  // Why: casd runs in its own process group, so Ctrl-C reaches only us; node's default
  // action would exit without stopping it and leave it orphaned. Stop it in order instead.
  let daemon: CasdDaemon | undefined;
  let exitCode: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (exitCode !== undefined) return;
    exitCode = signal === 'SIGINT' ? 130 : 143;
    logger.warning(`${signal}: stopping buildbox-casd`);
    if (daemon) void daemon.stop().finally(() => process.exit(exitCode));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    daemon = await CasdDaemon.start(await startOptions(config, logger));
    if (exitCode !== undefined) {
      await daemon.stop();
      process.exit(exitCode);
    }
    try {
      return await body(daemon);
    } finally {
      await daemon.stop();
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
