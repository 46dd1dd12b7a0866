import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../src/util/concurrency.js';
import { CLI, cliEnv, cliOk, tempDir } from './run-cli.js';

/** Pids of live (not zombie) processes whose command line mentions `text`. */
function liveProcessesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (cmdline.includes(text) && state !== 'Z' && cmdline.includes('buildbox-casd'))
        pids.push(Number(entry));
    } catch {
      // The process went away while we looked.
    }
  }
  return pids;
}

describe('signals during a command that runs its own daemon', () => {
  const tmp = tempDir('cli-signal-');
  const cacheDir = join(tmp.dir, 'cache');
  // A remote that accepts connections and never answers: calls to it hang.
  const sockets: Socket[] = [];
  let blackHole: Server;
  let port = 0;

  beforeAll(async () => {
    blackHole = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    port = (blackHole.address() as { port: number }).port;
    await cliOk(['capture', import.meta.dirname, '--ref', 'r', '--cache-dir', cacheDir]);
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => blackHole.close(resolve));
    tmp.remove();
  });

  // casd 1.4.30 ignores SIGTERM while a call to a hung remote is in flight, so this also
  // exercises the SIGKILL after the 15 s grace period.
  it('SIGINT stops the daemon in order and exits 130', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'push', 'r', '--remote', `grpc://127.0.0.1:${port}`, '--cache-dir', cacheDir],
      {
        env: cliEnv(),
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Wait until the command has reached the remote (the black hole got a connection).
    while (sockets.length === 0 && child.exitCode === null) await sleep(50);
    expect(liveProcessesMentioning(cacheDir)).toHaveLength(1);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('SIGINT: stopping buildbox-casd');
    expect(liveProcessesMentioning(cacheDir)).toEqual([]);
  });
});
