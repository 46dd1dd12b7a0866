import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartJson, StatusJson } from '../../src/cli/json.js';
import { SCHEMAS } from '../../src/cli/json.js';
import { formatBytes } from '../../src/util/size.js';
import { cliJson, cliOk, runCli, tempDir } from './run-cli.js';

/** One file of `bytes` random-ish bytes (no two files alike), in a fresh directory. */
function payload(dir: string, bytes: number): string {
  mkdirSync(dir, { recursive: true });
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(join(dir, 'blob.bin'), data);
  return dir;
}

describe('status and usage without a quota', () => {
  const tmp = tempDir('cli-status-');
  afterAll(async () => {
    for (const name of ['running', 'quota-running'])
      await runCli(['stop', '--cache-dir', join(tmp.dir, name)]);
    tmp.remove();
  });

  // 1 MB of file plus its small Directory: what casd stores for the capture.
  const MB = 1_000_000;
  const expectCacheSized = (status: StatusJson): void => {
    expect(status.usedBytes).toBeGreaterThanOrEqual(MB);
    expect(status.usedBytes).toBeLessThan(MB + 10_000);
  };

  it('report the bytes the cache holds, with quotaBytes null and no quota in the text', async () => {
    const cache = join(tmp.dir, 'ephemeral');
    await cliOk(['capture', payload(join(tmp.dir, 'p1'), MB), '--cache-dir', cache]);
    const status = await cliJson<StatusJson>(['status', '--cache-dir', cache], SCHEMAS.status);
    expect(status).toMatchObject({ cache: true, running: false, quotaBytes: null, refs: 0 });
    expectCacheSized(status);
    expect(status.usage).toBe(formatBytes(status.usedBytes));
    const usage = await cliOk(['usage', '--cache-dir', cache]);
    expect(usage.stdout).toBe(`${formatBytes(status.usedBytes)}\n`);
    const text = await cliOk(['status', '--cache-dir', cache]);
    expect(text.stdout).toContain(`usage: ${formatBytes(status.usedBytes)}\n`);
    expect(text.stdout).not.toContain(' / ');
  });

  it('do the same for a daemon that start left running without a quota', async () => {
    const cache = join(tmp.dir, 'running');
    await cliJson<StartJson>(['start', '--cache-dir', cache], SCHEMAS.start);
    await cliOk(['capture', payload(join(tmp.dir, 'p2'), MB), '--cache-dir', cache]);
    // A --quota given now does not change the daemon that runs.
    const status = await cliJson<StatusJson>(
      ['status', '--cache-dir', cache, '--quota', '2G'],
      SCHEMAS.status,
    );
    expect(status).toMatchObject({ cache: true, running: true, quotaBytes: null });
    expectCacheSized(status);
  });

  it("count the bytes as casd counts them under a quota, and report a running daemon's quota", async () => {
    const cache = join(tmp.dir, 'quota-running');
    await cliJson<StartJson>(['start', '--cache-dir', cache, '--quota', '1G'], SCHEMAS.start);
    await cliOk(['capture', payload(join(tmp.dir, 'p3'), MB), '--cache-dir', cache]);
    const withQuota = await cliJson<StatusJson>(['status', '--cache-dir', cache], SCHEMAS.status);
    expect(withQuota.quotaBytes).toBe(1_000_000_000);
    expect(withQuota.usage).toMatch(/^1\.0 MB \/ 1\.0 GB \(0%\)$/);
    await cliOk(['stop', '--cache-dir', cache]);
    const without = await cliJson<StatusJson>(['usage', '--cache-dir', cache], SCHEMAS.status);
    expect(without.quotaBytes).toBeNull();
    expect(without.usedBytes).toBe(withQuota.usedBytes);
  });
});

describe('status and usage on a directory that holds no cache', () => {
  const tmp = tempDir('cli-nocache-');
  afterAll(() => tmp.remove());

  it('say "no cache at DIR", exit 0 and create nothing', async () => {
    const dir = join(tmp.dir, 'never');
    for (const command of ['status', 'usage']) {
      const result = await runCli([command, '--cache-dir', dir]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe(`no cache at ${dir}\n`);
      expect(result.stderr).toBe('');
    }
    expect(existsSync(dir)).toBe(false);
  });

  it('leave an existing empty directory empty', async () => {
    const dir = join(tmp.dir, 'empty');
    mkdirSync(dir);
    const result = await runCli(['status', '--cache-dir', dir]);
    expect(result.stdout).toBe(`no cache at ${dir}\n`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('need no buildbox-casd to say so', async () => {
    const dir = join(tmp.dir, 'no-casd');
    const result = await runCli(['status', '--cache-dir', dir], { BUILDBOX_CASD: '', PATH: '/nonexistent' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`no cache at ${dir}\n`);
  });

  it('give cache: false in JSON, with nothing used and no quota', async () => {
    const dir = join(tmp.dir, 'json');
    const status = await cliJson<StatusJson>(['status', '--cache-dir', dir], SCHEMAS.status);
    expect(status).toEqual({
      cache: false,
      running: false,
      pid: null,
      socket: null,
      grpcUrl: null,
      bazelUrl: null,
      cacheDir: dir,
      usedBytes: 0,
      quotaBytes: null,
      usage: 'no cache',
      refs: 0,
    });
    expect(existsSync(dir)).toBe(false);
  });
});

describe('status with a quota and no daemon', () => {
  const tmp = tempDir('cli-quota-');
  beforeAll(async () => {
    await cliOk(['capture', payload(join(tmp.dir, 'p'), 1000), '--cache-dir', join(tmp.dir, 'c')]);
  });
  afterAll(() => tmp.remove());

  it('reports used / quota from a daemon run for the command with that quota', async () => {
    const status = await cliJson<StatusJson>(
      ['status', '--cache-dir', join(tmp.dir, 'c'), '--quota', '1G'],
      SCHEMAS.status,
    );
    expect(status.quotaBytes).toBe(1_000_000_000);
    expect(status.usage).toMatch(/^\d+(\.\d)? kB \/ 1\.0 GB \(0%\)$/);
  });
});
