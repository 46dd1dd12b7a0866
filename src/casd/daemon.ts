import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { CasError } from '../errors.js';
import { Connection } from '../grpc/connection.js';
import { isGrpcError, unary } from '../grpc/call.js';
import { parseEndpoint } from '../grpc/endpoint.js';
import { type Logger, silentLogger } from '../logger.js';
import { sleep } from '../util/concurrency.js';
import { buildCasdArgs, type DaemonOptions } from './args.js';
import { type BazelBridge, startBazelBridge } from './bazel-bridge.js';
import { spawnBridgeProcess } from './bridge-process.js';
import { createLogFile, logExcerpt } from './logs.js';
import {
  DEFAULT_READY_TIMEOUT_MS,
  DEFAULT_STOP,
  FAILED_START_STOP,
  READY_POLL_MS,
  READY_PROBE_MAX_MS,
} from './options.js';
import { type ProcessHandle, attachedHandle, childHandle, processAlive } from './process.js';
import { makeSocketDir, parseListen, removeSocketDir, resolveListen } from './socket.js';
import { EXIT_STATUS_FILE, supervisedCommand, supervisedHandle } from './supervisor.js';
import { casdVersion } from './version.js';

/** How to start a daemon: its options (the socket is chosen here) plus start-up settings. */
export type StartOptions = Omit<DaemonOptions, 'socketPath'> & {
  logger?: Logger;
  /** Give up when casd does not answer within this long from start (default 15 s). */
  readyTimeoutMs?: number;
  /** Also listen on this loopback TCP address, e.g. `127.0.0.1:0` (0 = pick a free port). */
  listen?: string;
  /**
   * Also start the Bazel bridge on the `listen` host (a free port): Bazel 4-7 get remote cache
   * hits through it (see bazel-bridge.ts). Needs `listen`. It runs in this process, or as a
   * detached process of its own with `detach`; either way it stops with the daemon.
   */
  bazelBridge?: boolean;
  /**
   * Let casd outlive this process (the CLI's `start`, the action's main step): the child is
   * unref'd, and casd runs under a small sh supervisor that records its exit status, so that
   * a later process that attaches can still tell how it ended (see supervisor.ts).
   */
  detach?: boolean;
};

/** What it takes to control a daemon started by an earlier process; JSON-able. */
export interface DaemonState {
  /** The process to signal: casd, or its supervisor (which forwards signals) when detached. */
  pid: number;
  /** Where the supervisor of a detached daemon records casd's exit status. */
  statusPath?: string;
  /** `unix:/path` */
  socket: string;
  socketDir?: string;
  logPath: string;
  cacheDir: string;
  grpcUrl?: string;
  /** The Bazel bridge's address, and its process when it runs detached. */
  bazelBridge?: { url: string; pid?: number };
  version?: string;
}

/** How the daemon ended; exit code and signal are null where they are unknown. */
export interface ShutdownResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** It ignored SIGTERM and got SIGKILL. */
  killed: boolean;
  /** It had already exited (crashed, killed by someone else) when stop() was called. */
  diedEarly: boolean;
  durationMs: number;
  logPath: string;
}

export interface StopOptions {
  /** Quiet wait after SIGTERM (default 0.5 s). */
  termGraceMs?: number;
  /** Further wait, announced as "Terminating buildbox-casd", before SIGKILL (default 15 s). */
  termTimeoutMs?: number;
  /** Wait after SIGKILL (default 15 s). */
  killTimeoutMs?: number;
}

export { DEFAULT_READY_TIMEOUT_MS } from './options.js';

function withTail(message: string, logPath: string): string {
  const excerpt = logExcerpt(logPath);
  return excerpt ? `${message}\nfrom the log:\n${excerpt}` : message;
}

/** A running (or finished) buildbox-casd and everything needed to talk to it and stop it. */
export class CasdDaemon {
  /** `unix:/path/casd.sock` */
  readonly socket: string;
  readonly socketPath: string;
  readonly grpcUrl?: string;
  readonly pid: number;
  readonly logPath: string;
  readonly cacheDir: string;
  readonly version?: string;
  private readonly socketDir?: string;
  private readonly statusPath?: string;
  private readonly handle: ProcessHandle;
  private readonly logger: Logger;
  private bridgeUrl?: string;
  private bridgePid?: number;
  private bridge?: BazelBridge;
  private cachedConnection?: Connection;
  private stopping?: Promise<ShutdownResult>;

  private constructor(state: DaemonState, handle: ProcessHandle, logger: Logger) {
    const endpoint = parseEndpoint(state.socket);
    if (endpoint.kind !== 'unix' || !endpoint.socketPath) {
      throw new CasError('invalid-input', `daemon socket "${state.socket}" is not a unix:/path address`);
    }
    this.socket = `unix:${endpoint.socketPath}`;
    this.socketPath = endpoint.socketPath;
    this.grpcUrl = state.grpcUrl;
    this.pid = state.pid;
    this.logPath = state.logPath;
    this.cacheDir = state.cacheDir;
    this.version = state.version;
    this.socketDir = state.socketDir;
    this.statusPath = state.statusPath;
    this.bridgeUrl = state.bazelBridge?.url;
    this.bridgePid = state.bazelBridge?.pid;
    this.handle = handle;
    this.logger = logger;
  }

  /**
   * Starts buildbox-casd on a unix socket in a private temp dir, logging to a new file under
   * `<cacheDir>/cas/logs`, in its own process group (so Ctrl-C of the front end does not reach
   * it), and waits until it answers GetCapabilities.
   * Throws CasError 'daemon-start' (cannot run, or exited early: exit code and log tail),
   * 'daemon-timeout' (not ready in time: names the log), 'invalid-input' (bad options).
   */
  static async start(options: StartOptions): Promise<CasdDaemon> {
    const logger = options.logger ?? silentLogger;
    const startTime = Date.now();
    const deadline = startTime + (options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    let listen = options.listen === undefined ? undefined : parseListen(options.listen);
    if (listen) listen = await resolveListen(listen);
    if (options.bazelBridge && !listen) {
      throw new CasError('invalid-input', 'the Bazel bridge needs a TCP listen address (listen)');
    }
    const binds = [...(options.binds ?? [])];
    if (listen) binds.push(`${listen.host}:${listen.port}`);

    const { dir: socketDir, socketPath } = makeSocketDir();
    let args: string[];
    try {
      args = buildCasdArgs({ ...options, socketPath, binds });
    } catch (err) {
      removeSocketDir(socketDir);
      throw err;
    }
    const version = casdVersion(options.binary).catch((err: unknown) => {
      logger.debug(`buildbox-casd version unknown: ${(err as Error).message}`);
      return undefined;
    });
    const log = createLogFile(options.cacheDir, new Date(startTime));
    logger.debug(`starting ${options.binary} ${args.join(' ')}; log: ${log.path}`);
    const statusPath = options.detach ? join(socketDir, EXIT_STATUS_FILE) : undefined;
    const command = statusPath
      ? supervisedCommand(options.binary, args, statusPath)
      : { command: options.binary, args };
    let child: ChildProcess;
    try {
      // detached: casd (or its supervisor) leads its own process group, so a terminal's
      // SIGINT to the front end's group never reaches it; the front end stops it in order.
      child = spawn(command.command, command.args, { stdio: ['ignore', log.fd, log.fd], detached: true });
    } finally {
      closeSync(log.fd);
    }
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    if (spawned || child.pid === undefined) {
      removeSocketDir(socketDir);
      throw new CasError(
        'daemon-start',
        `cannot run buildbox-casd at ${options.binary}: ${spawned?.message ?? 'no process id'}`,
        { cause: spawned, logPath: log.path },
      );
    }
    const handle = statusPath
      ? supervisedHandle(childHandle(child, false), statusPath)
      : childHandle(child, true);
    if (options.detach) child.unref();
    const daemon = new CasdDaemon(
      {
        pid: child.pid,
        socket: `unix:${socketPath}`,
        socketDir,
        statusPath,
        logPath: log.path,
        cacheDir: options.cacheDir,
        grpcUrl: listen ? `grpc://${listen.host}:${listen.port}` : undefined,
      },
      handle,
      logger,
    );
    try {
      await daemon.waitReady(deadline);
      if (options.bazelBridge && listen) await daemon.startBridge(listen.host, options.detach ?? false);
    } catch (err) {
      // Quietly: the error thrown says what went wrong, with the log.
      daemon.stopping ??= daemon.shutdown(FAILED_START_STOP, silentLogger);
      await daemon.stopping;
      throw err;
    }
    (daemon as { version?: string }).version = await version;
    logger.debug(`buildbox-casd ${daemon.version ?? ''} ready on ${daemon.socket} (pid ${daemon.pid})`);
    return daemon;
  }

  /**
   * Takes control of a daemon started by an earlier process, from its `toState()`. Its exit
   * status is known when it was started detached (its supervisor records it); otherwise
   * `stop()` reports null for code and signal.
   * Throws CasError('invalid-input') for a malformed state.
   */
  static attach(state: DaemonState, logger: Logger = silentLogger): CasdDaemon {
    if (!Number.isSafeInteger(state.pid) || state.pid <= 0) {
      throw new CasError('invalid-input', `daemon state has pid ${state.pid}; expected a positive integer`);
    }
    const handle = attachedHandle(state.pid);
    return new CasdDaemon(
      state,
      state.statusPath ? supervisedHandle(handle, state.statusPath) : handle,
      logger,
    );
  }

  /** The JSON-able state `attach()` takes. */
  toState(): DaemonState {
    return {
      pid: this.pid,
      socket: this.socket,
      socketDir: this.socketDir,
      statusPath: this.statusPath,
      logPath: this.logPath,
      cacheDir: this.cacheDir,
      grpcUrl: this.grpcUrl,
      bazelBridge: this.bridgeUrl ? { url: this.bridgeUrl, pid: this.bridgePid } : undefined,
      version: this.version,
    };
  }

  /** How the process ended, once it has (for attached daemons: codes null). */
  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.handle.exitStatus();
  }

  /** A connection to the daemon's socket, made once and closed by `stop()`. */
  connection(): Connection {
    this.cachedConnection ??= new Connection(this.socket);
    return this.cachedConnection;
  }

  /**
   * Stops the daemon: when it already died, reports its exit code and log; else SIGTERM, a
   * quiet 0.5 s, up to 15 s announced as "Terminating buildbox-casd", then SIGKILL with a
   * warning. A non-zero exit is reported with the log path. Removes the socket dir. Safe to
   * call more than once (later calls return the first result).
   */
  stop(options: StopOptions = {}): Promise<ShutdownResult> {
    this.stopping ??= this.shutdown({ ...DEFAULT_STOP, ...options }, this.logger);
    return this.stopping;
  }

  /** The Bazel bridge's `grpc://HOST:PORT`, when one runs (see `StartOptions.bazelBridge`). */
  get bazelUrl(): string | undefined {
    return this.bridgeUrl;
  }

  // Why a failure is only a warning: the daemon serves every other client, and Bazel 8+
  // needs no bridge; the settings then name casd's own address.
  private async startBridge(listenHost: string, detach: boolean): Promise<void> {
    const host = listenHost.replace(/^\[|\]$/g, '');
    try {
      if (detach) {
        const started = await spawnBridgeProcess({
          host,
          socketPath: this.socketPath,
          watchPid: this.pid,
          logPath: this.logPath,
        });
        this.bridgePid = started.pid;
        this.bridgeUrl = started.url;
      } else {
        this.bridge = await startBazelBridge({
          host,
          port: 0,
          socketPath: this.socketPath,
          onProblem: (message) => this.logger.debug(`Bazel bridge: ${message}`),
        });
        this.bridgeUrl = this.bridge.url;
      }
      this.logger.debug(`Bazel bridge on ${this.bridgeUrl} in front of ${this.socket}`);
    } catch (err) {
      this.logger.warning(
        `the Bazel bridge did not start (${(err as Error).message}); Bazel 4-7 get no remote cache hits, Bazel 8+ can use ${this.grpcUrl ?? this.socket}`,
      );
    }
  }

  /** Stops the Bazel bridge first: Bazel's calls must not outlive the daemon. */
  private async stopBridge(): Promise<void> {
    await this.bridge?.close();
    this.bridge = undefined;
    if (this.bridgePid !== undefined && processAlive(this.bridgePid)) {
      try {
        process.kill(this.bridgePid, 'SIGTERM');
      } catch {
        // gone meanwhile
      }
    }
  }

  private async waitReady(deadline: number): Promise<void> {
    for (;;) {
      const exit = this.handle.exitStatus();
      if (exit) {
        const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
        throw new CasError(
          'daemon-start',
          withTail(`buildbox-casd exited before it was ready (${how}); log: ${this.logPath}`, this.logPath),
          { logPath: this.logPath },
        );
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new CasError(
          'daemon-timeout',
          withTail(
            `buildbox-casd did not answer on ${this.socket} in time; see its log: ${this.logPath}`,
            this.logPath,
          ),
          { logPath: this.logPath },
        );
      }
      if (existsSync(this.socketPath) && (await this.probe(Math.min(remaining, READY_PROBE_MAX_MS)))) return;
      await sleep(READY_POLL_MS);
    }
  }

  // A fresh channel per probe: a channel that failed to connect backs off (up to seconds)
  // before trying again, which would delay readiness far beyond the 10 ms poll.
  private async probe(timeoutMs: number): Promise<boolean> {
    const connection = new Connection(this.socket);
    try {
      const caps = connection.capabilities;
      await unary(caps.getCapabilities.bind(caps), { instanceName: '' }, { timeoutMs });
      return true;
    } catch (err) {
      if (isGrpcError(err, grpcStatus.UNAVAILABLE, grpcStatus.DEADLINE_EXCEEDED)) return false;
      throw new CasError(
        'daemon-start',
        `buildbox-casd answered GetCapabilities with an error: ${(err as Error).message}; log: ${this.logPath}`,
        { cause: err, logPath: this.logPath },
      );
    } finally {
      connection.close();
    }
  }

  private async shutdown(options: Required<StopOptions>, logger: Logger): Promise<ShutdownResult> {
    const started = Date.now();
    this.cachedConnection?.close();
    this.cachedConnection = undefined;
    await this.stopBridge();
    const result = (killed: boolean, diedEarly = false): ShutdownResult => {
      const exit = this.handle.exitStatus();
      return {
        exitCode: exit?.code ?? null,
        signal: exit?.signal ?? null,
        killed,
        diedEarly,
        durationMs: Date.now() - started,
        logPath: this.logPath,
      };
    };
    try {
      if (!this.handle.alive()) {
        const ended = result(false, true);
        const how = describeExit(ended);
        if (how !== 'exit code 0') {
          logger.warning(`buildbox-casd died during the run (${how}); log: ${this.logPath}`);
        }
        return ended;
      }
      this.handle.signal('SIGTERM');
      if (await this.handle.waitExit(options.termGraceMs)) return reportExit(result(false), logger);
      logger.info('Terminating buildbox-casd');
      if (await this.handle.waitExit(options.termTimeoutMs)) return reportExit(result(false), logger);
      this.handle.kill();
      await this.handle.waitExit(options.killTimeoutMs);
      const seconds = ((options.termGraceMs + options.termTimeoutMs) / 1000).toFixed(1);
      logger.warning(
        `buildbox-casd did not exit within ${seconds} s of SIGTERM and was killed; log: ${this.logPath}`,
      );
      return result(true);
    } finally {
      removeSocketDir(this.socketDir);
    }
  }
}

function reportExit(ended: ShutdownResult, logger: Logger): ShutdownResult {
  const how = describeExit(ended);
  if (how !== 'exit code 0' && how !== 'exit code unknown') {
    logger.warning(`buildbox-casd did not exit cleanly (${how}); log: ${ended.logPath}`);
  }
  return ended;
}

function describeExit(result: { exitCode: number | null; signal: string | null }): string {
  if (result.signal) return `signal ${result.signal}`;
  return result.exitCode === null ? 'exit code unknown' : `exit code ${result.exitCode}`;
}
