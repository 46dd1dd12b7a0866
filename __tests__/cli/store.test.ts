import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CaptureJson,
  CheckoutJson,
  DiffJson,
  GcJson,
  RefsJson,
  RmJson,
  StartJson,
  StatusJson,
  StopJson,
} from '../../src/cli/json.js';
import { SCHEMAS } from '../../src/cli/json.js';
import { cliJson, cliOk, runCli, tempDir } from './run-cli.js';

/** True when `pid` has exited: gone, or a zombie (this sandbox's init does not reap orphans). */
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

describe('casd-action local store commands (daemon left running by start)', () => {
  const tmp = tempDir('cli-store-');
  const cache = join(tmp.dir, 'cache');
  const g = ['--cache-dir', cache];
  let started: StartJson;

  beforeAll(async () => {
    writeTree(join(tmp.dir, 'v1'), {
      'a.txt': 'alpha\n',
      'sub/b.txt': 'beta\n',
      'sub/deep/c.txt': 'gamma\n',
    });
    writeTree(join(tmp.dir, 'v2'), { 'a.txt': 'ALPHA\n', 'sub/b.txt': 'beta\n', 'new.txt': 'new\n' });
    writeFileSync(join(tmp.dir, 'tool.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(join(tmp.dir, 'tool.sh'), 0o755);
    started = await cliJson<StartJson>(['start', ...g], SCHEMAS.start);
  });

  afterAll(async () => {
    await runCli(['stop', ...g]);
    tmp.remove();
  });

  it('start records the daemon and answers on its socket', () => {
    expect(started.socket).toMatch(/^unix:\//);
    expect(started.version).toBe('1.4.30');
    expect(existsSync(started.stateFile)).toBe(true);
    expect(JSON.parse(readFileSync(started.stateFile, 'utf8')).pid).toBe(started.pid);
  });

  it('refuses to start a second daemon on the same cache directory', async () => {
    const result = await runCli(['start', ...g]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`a daemon is already running for ${cache} (pid ${started.pid}`);
  });

  it('status reports the running daemon and the usage', async () => {
    const status = await cliJson<StatusJson>(['status', ...g], SCHEMAS.status);
    expect(status).toMatchObject({
      running: true,
      pid: started.pid,
      socket: started.socket,
      cacheDir: cache,
    });
    expect(status.usage).toMatch(/\d/);
    const text = await cliOk(['status', ...g]);
    expect(text.stdout).toContain(`daemon: running (pid ${started.pid}) on ${started.socket}`);
  });

  it('usage prints used / quota (pct%) for a daemon with a quota', async () => {
    const quotaCache = join(tmp.dir, 'quota-cache');
    await cliOk(['capture', join(tmp.dir, 'v1'), '--cache-dir', quotaCache, '--quota', '1G']);
    const result = await cliOk(['usage', '--cache-dir', quotaCache, '--quota', '1G', '--reserved', '0']);
    expect(result.stdout.trim()).toMatch(/^\d+(\.\d)? (B|kB|MB) \/ 1\.0 GB \(\d+%\)$/);
    const json = await cliJson<StatusJson>(
      ['usage', '--cache-dir', quotaCache, '--quota', '1G'],
      SCHEMAS.status,
    );
    expect(json.quotaBytes).toBe(1_000_000_000);
    expect(json.running).toBe(false);
  });

  it('captures one directory as its own tree and checks it out identically', async () => {
    const captured = await cliJson<CaptureJson>(
      ['capture', join(tmp.dir, 'v1'), '--ref', 'proj/v1', ...g],
      SCHEMAS.capture,
    );
    expect(captured).toMatchObject({ ref: 'proj/v1', files: 3, directories: 2, symlinks: 0, bytes: 17 });
    const out = join(tmp.dir, 'out-v1');
    const checkedOut = await cliJson<CheckoutJson>(['checkout', 'proj/v1', out, ...g], SCHEMAS.checkout);
    expect(checkedOut).toMatchObject({
      digest: captured.digest,
      files: 3,
      linked: 0,
      fetchedFromRemote: false,
    });
    expect(readFileSync(join(out, 'sub', 'deep', 'c.txt'), 'utf8')).toBe('gamma\n');
    expect(readFileSync(join(out, 'a.txt'), 'utf8')).toBe('alpha\n');
  });

  it('prints the digest and a final progress line in text mode', async () => {
    const result = await cliOk(['capture', join(tmp.dir, 'v2'), '--ref', 'proj/v2', ...g]);
    expect(result.stdout.trim()).toMatch(/^[0-9a-f]{64}\/\d+$/);
    expect(result.stderr).toContain('captured 3 files, 1 directories, 0 symlinks as');
  });

  it('captures several paths as one entry per basename, keeping the executable bit and symlinks', async () => {
    symlinkSync('a.txt', join(tmp.dir, 'link'));
    const captured = await cliJson<CaptureJson>(
      [
        'capture',
        join(tmp.dir, 'v1'),
        join(tmp.dir, 'tool.sh'),
        join(tmp.dir, 'link'),
        '--ref',
        'multi',
        ...g,
      ],
      SCHEMAS.capture,
    );
    expect(captured).toMatchObject({ files: 4, directories: 3, symlinks: 1 });
    const out = join(tmp.dir, 'out-multi');
    await cliOk(['checkout', captured.digest, out, ...g]);
    expect(readFileSync(join(out, 'v1', 'sub', 'b.txt'), 'utf8')).toBe('beta\n');
    expect(statSync(join(out, 'tool.sh')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(out, 'link'))).toBe('a.txt');
  });

  it('checks out with --link as hard links from the cache', async () => {
    const out = join(tmp.dir, 'out-link');
    const result = await cliJson<CheckoutJson>(
      ['checkout', 'proj/v1', out, '--link', ...g],
      SCHEMAS.checkout,
    );
    expect(result.linked).toBe(3);
    expect(statSync(join(out, 'a.txt')).nlink).toBeGreaterThan(1);
  });

  it('fails with exit 1 naming a path that does not exist', async () => {
    const result = await runCli(['capture', join(tmp.dir, 'nope'), ...g]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot capture ${join(tmp.dir, 'nope')}: it does not exist`);
  });

  it('fails with exit 1 naming an unknown ref on checkout', async () => {
    const result = await runCli(['checkout', 'no/such', join(tmp.dir, 'x'), ...g]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('ref "no/such" does not exist');
  });

  it('refuses to check out into a non-empty directory', async () => {
    const result = await runCli(['checkout', 'proj/v1', join(tmp.dir, 'v2'), ...g]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is not empty');
  });

  it('diff lists modified, removed and added paths', async () => {
    const diff = await cliJson<DiffJson>(['diff', 'proj/v1', 'proj/v2', ...g], SCHEMAS.diff);
    expect(diff).toEqual({
      a: 'proj/v1',
      b: 'proj/v2',
      modified: ['a.txt'],
      removed: ['sub/deep/c.txt'],
      added: ['new.txt'],
    });
    const text = await cliOk(['diff', 'proj/v1', 'proj/v2', ...g]);
    expect(text.stdout.trim().split('\n')).toEqual(['M a.txt', 'D sub/deep/c.txt', 'A new.txt']);
  });

  it('refs lists refs matching a glob', async () => {
    const refs = await cliJson<RefsJson>(['refs', 'proj/*', ...g], SCHEMAS.refs);
    expect(refs.refs.map((r) => r.name).sort()).toEqual(['proj/v1', 'proj/v2']);
    const all = await cliJson<RefsJson>(['refs', ...g], SCHEMAS.refs);
    expect(all.refs.map((r) => r.name)).toContain('multi');
  });

  it('rm removes refs and refuses unknown ones without removing anything', async () => {
    await cliOk(['capture', join(tmp.dir, 'v2'), '--ref', 'tmp/one', ...g]);
    const refused = await runCli(['rm', 'tmp/one', 'tmp/missing', ...g]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ref "tmp/missing" does not exist');
    const removed = await cliJson<RmJson>(['rm', 'tmp/one', ...g], SCHEMAS.rm);
    expect(removed.removed).toEqual(['tmp/one']);
    const refs = await cliJson<RefsJson>(['refs', 'tmp/**', ...g], SCHEMAS.refs);
    expect(refs.refs).toEqual([]);
  });

  it('gc removes the oldest refs until the newest fit in the size', async () => {
    const gcCache = join(tmp.dir, 'gc-cache');
    const gg = ['--cache-dir', gcCache];
    for (const [i, size] of [4000, 3000, 2000].entries()) {
      const dir = join(tmp.dir, `gc${i}`);
      writeTree(dir, { 'data.bin': String(i).repeat(size) });
      await cliOk(['capture', dir, '--ref', `gc/${i}`, ...gg]);
    }
    // gc/2 is the newest (2000 bytes + a Directory), then gc/1 (3000 + ...), then gc/0.
    const dry = await cliJson<GcJson>(['gc', '--to', '5500', '--dry-run', ...gg], SCHEMAS.gc);
    expect(dry.kept).toEqual(['gc/2', 'gc/1']);
    expect(dry.removed.map((r) => r.name)).toEqual(['gc/0']);
    expect((await cliJson<RefsJson>(['refs', ...gg], SCHEMAS.refs)).refs).toHaveLength(3);
    const done = await cliJson<GcJson>(['prune', '--to', '3000', ...gg], SCHEMAS.gc);
    expect(done.kept).toEqual(['gc/2']);
    expect(done.removed.map((r) => r.name)).toEqual(['gc/1', 'gc/0']);
    expect(done.keptBytes).toBeLessThanOrEqual(3000);
    expect((await cliJson<RefsJson>(['refs', ...gg], SCHEMAS.refs)).refs.map((r) => r.name)).toEqual([
      'gc/2',
    ]);
  });

  it('runs a daemon only for the command when none was started, leaving none behind', async () => {
    const other = join(tmp.dir, 'ephemeral');
    await cliOk(['capture', join(tmp.dir, 'v1'), '--ref', 'e', '--cache-dir', other]);
    expect(existsSync(join(other, 'casd-action-daemon.json'))).toBe(false);
    const status = await cliJson<StatusJson>(['status', '--cache-dir', other], SCHEMAS.status);
    expect(status).toMatchObject({ running: false, pid: null, refs: 1 });
  });

  it('stop stops the daemon, then reports that none runs', async () => {
    const stopDir = join(tmp.dir, 'stop-cache');
    const s = await cliJson<StartJson>(['start', '--cache-dir', stopDir], SCHEMAS.start);
    const stopped = await cliJson<StopJson>(['stop', '--cache-dir', stopDir], SCHEMAS.stop);
    expect(stopped).toMatchObject({ stopped: true, pid: s.pid });
    // Known only when the daemon records its exit status for later processes (else null).
    expect([0, null]).toContain(stopped.exitCode);
    expect(processGone(s.pid)).toBe(true);
    expect(existsSync(s.socket.slice('unix:'.length))).toBe(false);
    const again = await cliJson<StopJson>(['stop', '--cache-dir', stopDir], SCHEMAS.stop);
    expect(again.stopped).toBe(false);
  });

  it('start --env prints variables for the shell', async () => {
    const envDir = ['--cache-dir', join(tmp.dir, 'env-cache')];
    const result = await cliOk(['start', '--env', '--listen', '127.0.0.1:0', ...envDir]);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^CASD_SOCKET=unix:\/.+\.sock$/);
    expect(lines[1]).toMatch(/^CASD_GRPC_URL=grpc:\/\/127\.0\.0\.1:\d+$/);
    await cliOk(['stop', ...envDir]);
  });

  it('forgets a recorded daemon that is gone', async () => {
    const staleDir = join(tmp.dir, 'stale');
    mkdirSync(staleDir, { recursive: true });
    const stateFile = join(staleDir, 'casd-action-daemon.json');
    writeFileSync(
      stateFile,
      JSON.stringify({
        pid: 999999,
        socket: 'unix:/nonexistent/casd.sock',
        logPath: '/x',
        cacheDir: staleDir,
      }),
    );
    const status = await cliJson<StatusJson>(['status', '--cache-dir', staleDir], SCHEMAS.status);
    expect(status.running).toBe(false);
    expect(existsSync(stateFile)).toBe(false);
  });

  it('redraws one progress line on a terminal', async () => {
    const result = await cliOk(['capture', join(tmp.dir, 'v1'), ...g], { CASD_ACTION_PROGRESS: 'tty' });
    expect(result.stderr).toContain('\r\x1b[2K');
    expect(result.stderr).toMatch(/captured 3 files, 2 directories, 0 symlinks as [0-9a-f]{64}\/\d+\n$/);
  });

  it('takes the cache directory from CASD_ACTION_CACHE_DIR', async () => {
    const refs = await cliJson<RefsJson>(['refs', 'proj/*'], SCHEMAS.refs, { CASD_ACTION_CACHE_DIR: cache });
    expect(refs.refs).toHaveLength(2);
  });
});
