import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CasError } from '../errors.js';
import { startBazelBridge } from './bazel-bridge.js';
import { BRIDGE_READY_TIMEOUT_MS, BRIDGE_WATCH_POLL_MS } from './options.js';
import { processAlive } from './process.js';

// A detached daemon outlives the process that started it (the action's main step, the CLI's
// `start`), so its Bazel bridge must too: it runs as a small Node process of its own, started
// with the daemon, and it exits when casd does (or on SIGTERM from the daemon's `stop`).

const READY_PREFIX = 'listening ';

/**
 * The bridge's entry script: beside the running bundle (dist/<entry>/index.js ->
 * dist/bazel-bridge/index.js), beside the compiled library (lib/casd -> lib/bazel-bridge.js),
 * or the repository's bundle when running from sources. CASD_ACTION_BAZEL_BRIDGE overrides.
 */
export function bridgeEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.CASD_ACTION_BAZEL_BRIDGE,
    join(here, '..', 'bazel-bridge', 'index.js'),
    join(here, '..', 'bazel-bridge.js'),
    join(here, '..', '..', 'dist', 'bazel-bridge', 'index.js'),
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new CasError(
      'daemon-start',
      `cannot find the Bazel bridge script (looked at ${candidates.join(', ')}); set CASD_ACTION_BAZEL_BRIDGE`,
    );
  }
  return found;
}

export interface BridgeProcess {
  pid: number;
  url: string;
}

/**
 * Starts the bridge as a detached process on `host` (a free port) in front of casd's socket;
 * it exits once process `watchPid` is gone. Its problems go to `logPath` (appended).
 * Resolves with its pid and URL once it listens; throws CasError('daemon-start') otherwise.
 */
export async function spawnBridgeProcess(options: {
  host: string;
  socketPath: string;
  watchPid: number;
  logPath: string;
}): Promise<BridgeProcess> {
  const log = openSync(options.logPath, 'a');
  const args = [
    bridgeEntry(),
    '--host',
    options.host,
    '--socket',
    options.socketPath,
    '--watch-pid',
    String(options.watchPid),
  ];
  let child;
  try {
    child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', log] });
  } finally {
    closeSync(log);
  }
  const lines = createInterface({ input: child.stdout! });
  let timer: NodeJS.Timeout | undefined;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`it did not listen within ${BRIDGE_READY_TIMEOUT_MS / 1000} s`)),
        BRIDGE_READY_TIMEOUT_MS,
      );
      lines.once('line', (line) =>
        line.startsWith(READY_PREFIX) ? resolve(line.slice(READY_PREFIX.length)) : reject(new Error(line)),
      );
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`it exited with code ${code}`)));
    });
    child.unref();
    return { pid: child.pid!, url };
  } catch (err) {
    child.kill('SIGKILL');
    throw new CasError(
      'daemon-start',
      `the Bazel bridge did not start: ${(err as Error).message}; log: ${options.logPath}`,
      { cause: err, logPath: options.logPath },
    );
  } finally {
    clearTimeout(timer);
    lines.close();
    child.stdout?.destroy();
  }
}

function argument(argv: string[], name: string): string {
  const at = argv.indexOf(name);
  const value = at >= 0 ? argv[at + 1] : undefined;
  if (!value) throw new Error(`${name} is required`);
  return value;
}

/** The bridge process's main: `--host H --socket PATH --watch-pid PID`. */
export async function runBridgeProcess(argv: string[]): Promise<void> {
  const host = argument(argv, '--host');
  const socketPath = argument(argv, '--socket');
  const watchPid = Number(argument(argv, '--watch-pid'));
  const problem = (message: string): void => {
    process.stderr.write(`${new Date().toISOString()} casd-action bazel bridge: ${message}\n`);
  };
  const bridge = await startBazelBridge({ host, port: 0, socketPath, onProblem: problem });
  const exit = (): void => {
    void bridge.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
  setInterval(() => {
    if (!processAlive(watchPid)) exit();
  }, BRIDGE_WATCH_POLL_MS);
  process.stdout.write(`${READY_PREFIX}${bridge.url}\n`);
}
