import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CasdDaemon, type StartOptions } from '../../src/casd/index.js';
import { unary } from '../../src/grpc/call.js';
import { Connection } from '../../src/grpc/connection.js';
import { sleep } from '../../src/util/concurrency.js';
import { casdBinary } from '../helpers/casd.js';
import { fakeCasdBinary } from '../helpers/fake-daemon.js';
import { groupAlive, haveNode24, runFrontend } from './frontend.js';
import { processExists, recordingLogger, tempDir } from './support.js';

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function answers(socket: string): Promise<boolean> {
  const connection = new Connection(socket);
  try {
    const client = connection.capabilities;
    await unary(client.getCapabilities.bind(client), { instanceName: '' }, { timeoutMs: 10_000 });
    return true;
  } finally {
    connection.close();
  }
}

describe('CasdDaemon.stop', () => {
  let tmp: ReturnType<typeof tempDir>;
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
    tmp?.remove();
  });

  function options(extra: Partial<StartOptions> = {}): StartOptions {
    return { binary: casdBinary(), cacheDir: join(tmp.dir, 'cache'), reservedBytes: 0, ...extra };
  }

  it('stops a healthy casd with SIGTERM: exit 0, socket dir removed, nothing to warn about', async () => {
    tmp = tempDir();
    const logger = recordingLogger();
    const daemon = await CasdDaemon.start(options({ logger }));
    const socketDir = dirname(daemon.socketPath);
    const result = await daemon.stop();
    expect(result).toMatchObject({ exitCode: 0, signal: null, killed: false, logPath: daemon.logPath });
    expect(daemon.exitStatus).toEqual({ code: 0, signal: null });
    expect(existsSync(socketDir)).toBe(false);
    expect(processExists(daemon.pid)).toBe(false);
    expect(logger.at('warning')).toEqual([]);
    expect(await daemon.stop()).toBe(result);
  });

  it('reports a daemon that already died with how it ended and its log path', async () => {
    tmp = tempDir();
    const logger = recordingLogger();
    const daemon = await CasdDaemon.start(options({ logger }));
    process.kill(daemon.pid, 'SIGKILL');
    await until(() => daemon.exitStatus !== undefined, 'casd to die');
    const result = await daemon.stop();
    expect(result).toMatchObject({ exitCode: null, signal: 'SIGKILL', killed: false });
    expect(logger.at('warning')).toEqual([
      `buildbox-casd died during the run (signal SIGKILL); log: ${daemon.logPath}`,
    ]);
    expect(existsSync(dirname(daemon.socketPath))).toBe(false);
  });

  it('kills a daemon that ignores SIGTERM after the timeout, with a warning naming the log', async () => {
    tmp = tempDir();
    const logger = recordingLogger();
    // The stand-in runs the real casd (so it becomes ready) but ignores SIGTERM itself.
    const binary = fakeCasdBinary(tmp.dir, 'ignore-term');
    const daemon = await CasdDaemon.start(options({ binary, logger }));
    const result = await daemon.stop({ termGraceMs: 100, termTimeoutMs: 400 });
    expect(result).toMatchObject({ exitCode: null, signal: 'SIGKILL', killed: true });
    expect(logger.at('info')).toEqual(['Terminating buildbox-casd']);
    expect(logger.at('warning')).toEqual([
      `buildbox-casd did not exit within 0.5 s of SIGTERM and was killed; log: ${daemon.logPath}`,
    ]);
    // SIGKILL went to the whole process group: the real casd behind the stand-in is gone too.
    await until(() => !groupAlive(daemon.pid), 'the process group to end');
    expect(existsSync(dirname(daemon.socketPath))).toBe(false);
  });

  it.skipIf(!haveNode24)('stops a detached daemon from another process through attach()', async () => {
    tmp = tempDir();
    const frontend = runFrontend({ ...options(), detach: true });
    const state = await frontend.state;
    expect(await frontend.exited).toEqual({ code: 0, signal: null });
    cleanups.push(async () => processExists(state.pid) && process.kill(state.pid, 'SIGKILL'));
    expect(await answers(state.socket)).toBe(true);

    const logger = recordingLogger();
    const daemon = CasdDaemon.attach(JSON.parse(JSON.stringify(state)), logger);
    expect(daemon.toState()).toEqual(state);
    const result = await daemon.stop();
    // Its supervisor recorded how it ended, so attach() knows the exit code too.
    expect(result).toMatchObject({ exitCode: 0, signal: null, killed: false, logPath: state.logPath });
    expect(logger.at('warning')).toEqual([]);
    await until(() => !processExists(state.pid) || !groupAlive(state.pid), 'casd to be gone');
    expect(existsSync(state.socketDir as string)).toBe(false);
  });

  it.skipIf(!haveNode24)("survives SIGINT sent to the front end's process group", async () => {
    tmp = tempDir();
    const frontend = runFrontend(options());
    const state = await frontend.state;
    cleanups.push(() => CasdDaemon.attach(state).stop({ termTimeoutMs: 2_000 }));
    // Ctrl-C in a terminal: SIGINT to every process in the foreground job's group.
    process.kill(-(frontend.child.pid as number), 'SIGINT');
    expect(await frontend.exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(processExists(state.pid)).toBe(true);
    expect(await answers(state.socket)).toBe(true);
  });
});
