import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CasdDaemon, getUsage, logDir, type StartOptions } from '../../src/casd/index.js';
import { CasError } from '../../src/errors.js';
import { Connection } from '../../src/grpc/connection.js';
import { unary } from '../../src/grpc/call.js';
import { DigestFunction_Value } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { casdBinary } from '../helpers/casd.js';
import { fakeCasdBinary } from '../helpers/fake-daemon.js';
import { tempDir } from './support.js';

async function capabilities(connection: Connection) {
  const client = connection.capabilities;
  return unary(client.getCapabilities.bind(client), { instanceName: '' }, { timeoutMs: 10_000 });
}

async function startFailure(options: StartOptions): Promise<CasError> {
  try {
    const daemon = await CasdDaemon.start(options);
    await daemon.stop();
  } catch (err) {
    expect(err).toBeInstanceOf(CasError);
    return err as CasError;
  }
  throw new Error('expected start to fail');
}

describe('CasdDaemon.start', () => {
  let tmp: ReturnType<typeof tempDir>;
  let daemon: CasdDaemon | undefined;
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    tmp?.remove();
  });

  function options(extra: Partial<StartOptions> = {}): StartOptions {
    return { binary: casdBinary(), cacheDir: join(tmp.dir, 'cache'), reservedBytes: 0, ...extra };
  }

  it('starts casd on a private unix socket and answers GetCapabilities once ready', async () => {
    tmp = tempDir();
    daemon = await CasdDaemon.start(options({ logLevel: 'info' }));
    expect(daemon.socket).toBe(`unix:${daemon.socketPath}`);
    expect(statSync(join(daemon.socketPath, '..')).mode & 0o777).toBe(0o700);
    expect(daemon.version).toBe('1.4.30');
    expect(daemon.exitStatus).toBeUndefined();
    const caps = await capabilities(daemon.connection());
    expect(caps.cacheCapabilities?.digestFunctions).toContain(DigestFunction_Value.SHA256);
    expect(daemon.connection()).toBe(daemon.connection());
  });

  it('logs each start to cas/logs/<start time>.log, keeping at most 10 files', async () => {
    tmp = tempDir();
    const dir = logDir(join(tmp.dir, 'cache'));
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 10; i++) {
      const path = join(dir, `2020-01-01T00-00-0${i}.000Z.log`);
      writeFileSync(path, 'old\n');
      const when = new Date(Date.UTC(2020, 0, 1, 0, 0, i));
      utimesSync(path, when, when);
    }
    daemon = await CasdDaemon.start(options({ logLevel: 'info' }));
    expect(daemon.logPath.startsWith(dir)).toBe(true);
    expect(daemon.logPath).toMatch(/\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.log$/);
    const left = readdirSync(dir);
    expect(left).toHaveLength(10);
    expect(left).not.toContain('2020-01-01T00-00-00.000Z.log');
    expect(left).toContain('2020-01-01T00-00-01.000Z.log');
    await daemon.stop();
    expect(readFileSync(daemon.logPath, 'utf8')).not.toBe('');
  });

  it('also listens on a free loopback port when asked for 127.0.0.1:0', async () => {
    tmp = tempDir();
    daemon = await CasdDaemon.start(options({ listen: '127.0.0.1:0' }));
    expect(daemon.grpcUrl).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
    expect(daemon.grpcUrl).not.toBe('grpc://127.0.0.1:0');
    const tcp = new Connection(daemon.grpcUrl as string);
    try {
      const caps = await capabilities(tcp);
      expect(caps.highApiVersion?.major).toBe(2);
    } finally {
      tcp.close();
    }
  });

  it('passes the quota so that GetLocalDiskUsage reports it', async () => {
    tmp = tempDir();
    daemon = await CasdDaemon.start(options({ quotaHighBytes: 3_000_000_000, protectSessionBlobs: true }));
    const usage = await getUsage(daemon.connection());
    expect(usage.quotaBytes).toBe(3_000_000_000);
    expect(usage.usedBytes).toBeGreaterThanOrEqual(0);
  });

  it('reports an early exit with the exit code, the log path and the log tail', async () => {
    tmp = tempDir();
    const err = await startFailure(options({ extraArgs: ['--no-such-flag'] }));
    expect(err.reason).toBe('daemon-start');
    expect(err.message).toMatch(/^buildbox-casd exited before it was ready \(exit code [1-9]\d*\); log: /);
    expect(err.logPath).toBeDefined();
    expect(err.message).toContain(err.logPath as string);
    expect(err.message).toContain('no-such-flag');
  });

  it('gives up when casd never answers, naming the log file and removing the socket dir', async () => {
    tmp = tempDir();
    const binary = fakeCasdBinary(tmp.dir, 'never-ready');
    // Long enough for the fake (a Node process) to print its start line on a loaded machine.
    const err = await startFailure(options({ binary, readyTimeoutMs: 2000 }));
    expect(err.reason).toBe('daemon-timeout');
    expect(err.message).toContain(`see its log: ${err.logPath}`);
    expect(err.message).toContain('fake buildbox-casd (never-ready) started with: --bind=unix:');
    const socketPath = /--bind=unix:(\S+)/.exec(err.message)?.[1] as string;
    expect(existsSync(join(socketPath, '..'))).toBe(false);
  });

  it('says which binary cannot run', async () => {
    tmp = tempDir();
    const binary = join(tmp.dir, 'no-such-casd');
    const err = await startFailure(options({ binary }));
    expect(err.reason).toBe('daemon-start');
    expect(err.message).toBe(`cannot run buildbox-casd at ${binary}: spawn ${binary} ENOENT`);
  });

  it('rejects a malformed listen address, quoting it', async () => {
    tmp = tempDir();
    const err = await startFailure(options({ listen: 'localhost' }));
    expect(err.reason).toBe('invalid-input');
    expect(err.message).toBe(
      'listen address "localhost" is not host:port with a port from 0 to 65535, e.g. 127.0.0.1:0',
    );
  });
});
