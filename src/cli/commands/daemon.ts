import { join } from 'node:path';
import { type CacheUsage, CasdDaemon, formatUsage, getUsage } from '../../casd/index.js';
import { objectStoreUsage } from '../../casd/usage.js';
import { RefStore } from '../../cas/store/refs.js';
import { CasError } from '../../errors.js';
import { parseEndpoint } from '../../grpc/endpoint.js';
import { toolRemote } from '../../settings/remote.js';
import { type ToolEndpoints, writeToolSettings } from '../../settings/tool-settings.js';
import type { Logger } from '../../logger.js';
import { sleep } from '../../util/concurrency.js';
import { type Command, flagOption, stringOption } from '../command.js';
import type { CliConfig } from '../config.js';
import type { ServeJson, SettingsJson, StartJson, StatusJson, StopJson } from '../json.js';
import {
  findRunning,
  forgetRunning,
  holdsCache,
  type SavedDaemon,
  saveRunning,
  startOptions,
  withDaemon,
} from '../session.js';

/** The endpoints the settings files name: the daemon, and the remote behind it. */
function toolEndpoints(
  daemon: { socket: string; grpcUrl?: string; bazelBridge?: { url: string }; remote?: string },
  config: CliConfig,
): ToolEndpoints {
  const remote = config.remote;
  // A daemon started with a remote that this command was not given still names it.
  const recorded = !remote && daemon.remote ? parseEndpoint(daemon.remote) : undefined;
  return {
    socket: daemon.socket,
    grpcUrl: daemon.grpcUrl,
    bazelUrl: daemon.bazelBridge?.url,
    remote: remote
      ? toolRemote(remote, true)
      : recorded
        ? toolRemote({ endpoint: recorded, instanceName: '', readOnly: false }, true)
        : undefined,
  };
}

async function refuseSecondDaemon(
  config: CliConfig,
  ctxLogger: Parameters<typeof findRunning>[1],
): Promise<void> {
  const running = await findRunning(config.cacheDir, ctxLogger);
  if (running) {
    throw new CasError(
      'invalid-input',
      `a daemon is already running for ${config.cacheDir} (pid ${running.pid} on ${running.socket}); run 'casd-action stop' first`,
    );
  }
}

export const startCommand: Command = {
  name: 'start',
  summary: 'start the daemon in the background and print its socket',
  synopsis: 'start [--settings-dir DIR] [--env] [--remote URL] [--quota SIZE] [--listen HOST:PORT]',
  description: [
    'Starts buildbox-casd on the cache directory, detached, and records it in',
    '<cache-dir>/casd-action-daemon.json so that later commands (and `stop`) use it.',
    'With --remote, casd proxies CAS, Remote Asset and Action Cache calls to that remote, so',
    'build tools on the socket read and write through it. Prints the socket (unix:/...).',
  ].join('\n'),
  options: { 'settings-dir': { type: 'string' }, env: { type: 'boolean' } },
  optionHelp: {
    '--settings-dir DIR': 'write casd.bazelrc, recc.env and buildstream.conf into DIR',
    '--env': 'print CASD_SOCKET=... (and CASD_GRPC_URL=...) lines instead of the bare socket',
  },
  positionals: [0, 0],
  async run({ config, values, out, logger }) {
    await refuseSecondDaemon(config, logger);
    const options = await startOptions(config, logger, { proxy: true, listen: config.listen });
    const daemon = await CasdDaemon.start({
      ...options,
      bazelBridge: config.listen !== undefined,
      detach: true,
    });
    const stateFile = await saveRunning(daemon, {
      remote: config.remote?.url,
      quotaBytes: options.quotaHighBytes,
    });
    const settingsDir = stringOption(values, 'settings-dir');
    let settings: SettingsJson | null = null;
    if (settingsDir) {
      settings = await writeToolSettings(
        settingsDir,
        toolEndpoints({ ...daemon.toState(), remote: config.remote?.url }, config),
      );
    }
    const json: StartJson = {
      socket: daemon.socket,
      grpcUrl: daemon.grpcUrl ?? null,
      bazelUrl: daemon.bazelUrl ?? null,
      pid: daemon.pid,
      cacheDir: daemon.cacheDir,
      logPath: daemon.logPath,
      version: daemon.version ?? null,
      stateFile,
      remote: config.remote?.url ?? null,
      settings,
    };
    out.document(json);
    if (flagOption(values, 'env')) {
      out.line(`CASD_SOCKET=${daemon.socket}`);
      if (daemon.grpcUrl) out.line(`CASD_GRPC_URL=${daemon.grpcUrl}`);
      if (daemon.bazelUrl) out.line(`CASD_BAZEL_URL=${daemon.bazelUrl}`);
    } else {
      out.line(daemon.socket);
    }
    logger.info(
      `buildbox-casd ${daemon.version ?? ''} started (pid ${daemon.pid})` +
        `${daemon.grpcUrl ? ` also on ${daemon.grpcUrl}` : ''}` +
        `${daemon.bazelUrl ? `, Bazel bridge on ${daemon.bazelUrl}` : ''}; log: ${daemon.logPath}`,
    );
    return 0;
  },
};

export const stopCommand: Command = {
  name: 'stop',
  summary: 'stop the daemon started by `start`',
  synopsis: 'stop',
  description: 'Stops the daemon recorded for the cache directory (SIGTERM, then SIGKILL after 15 s).',
  options: {},
  optionHelp: {},
  positionals: [0, 0],
  async run({ config, out, logger }) {
    const running = await findRunning(config.cacheDir, logger);
    if (!running) {
      const json: StopJson = { stopped: false, pid: null, exitCode: null, logPath: null };
      out.document(json);
      out.line(`no daemon is running for ${config.cacheDir}`);
      return 0;
    }
    const result = await CasdDaemon.attach(running, logger).stop();
    await forgetRunning(config.cacheDir);
    const json: StopJson = {
      stopped: true,
      pid: running.pid,
      exitCode: result.exitCode,
      logPath: result.logPath,
    };
    out.document(json);
    out.line(`stopped buildbox-casd (pid ${running.pid})`);
    return 0;
  },
};

/**
 * The cache's usage. A daemon without a quota (the one running, else the one this command
 * would start) reports the filesystem, not the cache (see getUsage): then the object store is
 * measured on disk and no daemon is needed; with a quota, casd's answer.
 */
async function usageOf(
  config: CliConfig,
  running: SavedDaemon | undefined,
  logger: Logger,
): Promise<CacheUsage> {
  const hasQuota = running ? running.quotaBytes !== undefined : config.quota !== undefined;
  if (!hasQuota) return objectStoreUsage(config.cacheDir);
  return withDaemon(config, logger, (daemon) => getUsage(daemon.connection()));
}

/** What status and usage report for a directory that holds no cache. */
function noCache(config: CliConfig): StatusJson {
  return {
    cache: false,
    running: false,
    pid: null,
    socket: null,
    grpcUrl: null,
    bazelUrl: null,
    cacheDir: config.cacheDir,
    usedBytes: 0,
    quotaBytes: null,
    usage: 'no cache',
    refs: 0,
  };
}

function statusCommand(name: 'status' | 'usage'): Command {
  return {
    name,
    summary:
      name === 'status' ? 'daemon state, cache usage and ref count' : 'cache usage: used / quota (pct%)',
    synopsis: name,
    description: [
      name === 'status'
        ? 'Shows whether a daemon runs for the cache directory, its socket, the cache usage and the number of refs.'
        : 'Prints the cache usage: `used / quota (pct%)`, or `used` without a quota.',
      'A directory that holds no cache is reported as such (`no cache at DIR`, exit 0) and not created.',
    ].join('\n'),
    options: {},
    optionHelp: {},
    positionals: [0, 0],
    async run({ config, out, logger }) {
      const running: SavedDaemon | undefined = await findRunning(config.cacheDir, logger);
      if (!running && !holdsCache(config.cacheDir)) {
        out.document(noCache(config));
        out.line(`no cache at ${config.cacheDir}`);
        return 0;
      }
      const usage = await usageOf(config, running, logger);
      const refs = (await new RefStore(config.cacheDir).list()).length;
      const json: StatusJson = {
        cache: true,
        running: running !== undefined,
        pid: running?.pid ?? null,
        socket: running?.socket ?? null,
        grpcUrl: running?.grpcUrl ?? null,
        bazelUrl: running?.bazelBridge?.url ?? null,
        cacheDir: config.cacheDir,
        usedBytes: usage.usedBytes,
        quotaBytes: usage.quotaBytes > 0 ? usage.quotaBytes : null,
        usage: formatUsage(usage),
        refs,
      };
      out.document(json);
      if (name === 'usage') {
        out.line(json.usage);
        return 0;
      }
      out.line(`daemon: ${running ? `running (pid ${running.pid}) on ${running.socket}` : 'not running'}`);
      if (running?.grpcUrl) out.line(`grpc-url: ${running.grpcUrl}`);
      if (running?.bazelBridge) out.line(`bazel-url: ${running.bazelBridge.url}`);
      out.line(`cache: ${config.cacheDir}`);
      out.line(`usage: ${json.usage}`);
      out.line(`refs: ${refs}`);
      return 0;
    },
  };
}

export const statusCommands: Command[] = [statusCommand('status'), statusCommand('usage')];

/**
 * Catches SIGINT and SIGTERM from now on (so that a signal right after the URL is printed
 * still shuts down cleanly); `wait` resolves when one arrived or the daemon exited.
 */
function catchSignals(): { wait(daemon: CasdDaemon): Promise<'signal' | 'exited'>; release(): void } {
  let signalled = false;
  const onSignal = (): void => {
    signalled = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    async wait(daemon) {
      while (!signalled && daemon.exitStatus === undefined) await sleep(100);
      return signalled ? 'signal' : 'exited';
    },
    release() {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run casd as a plain remote cache server on a TCP port (foreground)',
  synopsis: 'serve [--listen HOST:PORT] [--quota SIZE]',
  description: [
    'Runs buildbox-casd in the foreground as a REAPI cache server (CAS, ByteStream, Action',
    'Cache, Remote Asset) on --listen (default 127.0.0.1:0, a free port), for a team without',
    'a REAPI server yet, for tests and demos. Prints the URL (grpc://HOST:PORT), then serves',
    'until SIGINT or SIGTERM and shuts casd down cleanly. Use --listen 0.0.0.0:PORT to serve',
    'other machines: there is no authentication, so only on a trusted network.',
  ].join('\n'),
  options: {},
  optionHelp: {},
  positionals: [0, 0],
  async run({ config, out, logger }) {
    await refuseSecondDaemon(config, logger);
    const signals = catchSignals();
    let daemon: CasdDaemon;
    let quotaBytes: number | undefined;
    try {
      const options = await startOptions(config, logger, {
        proxy: true,
        listen: config.listen ?? '127.0.0.1:0',
      });
      quotaBytes = options.quotaHighBytes;
      daemon = await CasdDaemon.start({ ...options, bazelBridge: true });
    } catch (err) {
      signals.release();
      throw err;
    }
    try {
      await saveRunning(daemon, { remote: config.remote?.url, serve: true, quotaBytes });
      const url = daemon.grpcUrl as string;
      const json: ServeJson = {
        url,
        socket: daemon.socket,
        pid: daemon.pid,
        cacheDir: daemon.cacheDir,
        logPath: daemon.logPath,
      };
      out.document(json);
      out.line(url);
      logger.info(`serving ${config.cacheDir} on ${url} (and ${daemon.socket}); Ctrl-C stops`);
      const why = await signals.wait(daemon);
      if (why === 'exited') {
        const status = daemon.exitStatus;
        throw new CasError(
          'daemon-died',
          `buildbox-casd exited while serving (exit code ${status?.code ?? 'unknown'}); log: ${daemon.logPath}`,
          { logPath: daemon.logPath },
        );
      }
      logger.info('stopping buildbox-casd');
      return 0;
    } finally {
      await daemon.stop();
      await forgetRunning(config.cacheDir);
      signals.release();
    }
  },
};

export const settingsCommand: Command = {
  name: 'settings',
  summary: 'write bazelrc, recc.env and buildstream.conf for the running daemon',
  synopsis: 'settings [DIR]',
  description: [
    'Writes casd.bazelrc (Bazel 5+ through the Bazel bridge that `start --listen` runs; Bazel 8+',
    'only on the unix socket without --listen), recc.env and buildstream.conf (BuildStream 2 cache storage service: the remote when',
    'there is one, else the daemon) into DIR (default <cache-dir>/settings) and prints their paths.',
  ].join('\n'),
  options: {},
  optionHelp: {},
  positionals: [0, 1],
  async run({ config, positionals, out, logger }) {
    const running = await findRunning(config.cacheDir, logger);
    if (!running) {
      throw new CasError(
        'invalid-input',
        `no daemon is running for ${config.cacheDir}; run 'casd-action start' first (settings name its socket)`,
      );
    }
    const dir = positionals[0] ?? join(config.cacheDir, 'settings');
    const files: SettingsJson = await writeToolSettings(dir, toolEndpoints(running, config));
    out.document(files);
    out.line(files.bazelrc);
    out.line(files.reccEnv);
    out.line(files.buildstreamConf);
    return 0;
  },
};
