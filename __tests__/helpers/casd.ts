import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '../../src/grpc/connection.js';
import { unary } from '../../src/grpc/call.js';
import { sleep } from '../../src/util/concurrency.js';

/** Path of the real buildbox-casd, set by the global set-up. */
export function casdBinary(): string {
  const path = process.env.BUILDBOX_CASD;
  if (!path) throw new Error('BUILDBOX_CASD is not set: run the tests through vitest (global set-up)');
  return path;
}

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface TestCasd {
  /** `unix:/...` address of its socket. */
  socket: string;
  /** `grpc://127.0.0.1:PORT` when started with `tcp: true`. */
  url?: string;
  port?: number;
  cacheDir: string;
  process: ChildProcess;
  connect(): Connection;
  stop(): Promise<void>;
  log(): string;
}

export interface TestCasdOptions {
  /** Also listen on a loopback TCP port (to act as a remote). */
  tcp?: boolean;
  /** Extra command-line arguments (e.g. `--cas-remote=...`). */
  args?: string[];
  /** Reuse a cache directory (for restart tests). */
  cacheDir?: string;
}

/**
 * Starts a real buildbox-casd in a private temp dir, independent of the library's own daemon
 * manager, so tests of the library run against a daemon the library did not set up.
 */
export async function startTestCasd(options: TestCasdOptions = {}): Promise<TestCasd> {
  const dir = mkdtempSync(join(tmpdir(), 'casd-t-'));
  const cacheDir = options.cacheDir ?? join(dir, 'cache');
  const sockPath = join(dir, 'casd.sock');
  const args = [`--bind=unix:${sockPath}`, '--log-level=info', '--reserved=0'];
  let port: number | undefined;
  if (options.tcp) {
    port = await freePort();
    args.push(`--bind=127.0.0.1:${port}`);
  }
  args.push(...(options.args ?? []), cacheDir);
  const logFile = join(dir, 'casd.log');
  const { openSync } = await import('node:fs');
  const fd = openSync(logFile, 'a');
  const child = spawn(casdBinary(), args, { stdio: ['ignore', fd, fd] });
  let exited = false;
  child.once('exit', () => (exited = true));
  const socket = `unix:${sockPath}`;
  const connection = new Connection(socket);
  const deadline = Date.now() + 15_000;
  try {
    for (;;) {
      if (exited) throw new Error(`test casd exited early:\n${readFileSync(logFile, 'utf8')}`);
      try {
        if (existsSync(sockPath)) {
          await unary(
            connection.capabilities.getCapabilities.bind(connection.capabilities),
            { instanceName: '' },
            { timeoutMs: 1000 },
          );
          break;
        }
      } catch {
        // not ready yet
      }
      if (Date.now() > deadline)
        throw new Error(`test casd not ready after 15 s:\n${readFileSync(logFile, 'utf8')}`);
      await sleep(10);
    }
  } finally {
    connection.close();
  }
  return {
    socket,
    url: port ? `grpc://127.0.0.1:${port}` : undefined,
    port,
    cacheDir,
    process: child,
    connect: () => new Connection(socket),
    log: () => readFileSync(logFile, 'utf8'),
    async stop() {
      if (!exited) {
        const done = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await done;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
