// A restore from the Actions cache on a fresh runner writes each file of `path` once: the
// packs arrive as one data file each (pack-files.ts) and the tree is checked out of them, so
// casd's object store receives none of the tree's blobs. The restore is byte-identical (modes,
// symlinks, empty directories), the post step hashes nothing unchanged, and a save after a
// change uploads only the new blobs. Every job runs on a fresh runner, through dist/.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startActionsCacheEmulator, type ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { casdBinary, startTestCasd, type TestCasd } from '../helpers/casd.js';
import { describeTree } from '../helpers/describe-tree.js';
import { PACKS_DIR, PackFiles } from '../../src/cas/store/pack-files.js';
import { createRunnerJob, runAction, type ActionRun, type RunnerJob } from '../helpers/runner.js';
import { type LimitedRemote, startLimitedRemote } from '../helpers/limited-remote.js';
import { hasZstd } from '../helpers/zstd.js';

/** How many of the tree's file contents (`described`) are object files in casd's store. */
function treeObjectsIn(cacheDir: string, described: Map<string, string>): number {
  const hashes = new Set(
    [...described.values()].filter((v) => v.startsWith('file ')).map((v) => v.split(' ')[2]),
  );
  const EMPTY = createHash('sha256').digest('hex');
  // casd keeps the empty blob whatever it restores.
  hashes.delete(EMPTY);
  return [...hashes].filter((hash) =>
    existsSync(join(cacheDir, 'cas', 'objects', hash.slice(0, 2), hash.slice(2))),
  ).length;
}

/** How many of the tree's file contents are in the local store: object files or packed (a capture's pack). */
function treeBlobsStoredIn(cacheDir: string, described: Map<string, string>): number {
  const packs = new PackFiles(join(cacheDir, PACKS_DIR));
  const hashes = new Set(
    [...described.values()].filter((v) => v.startsWith('file ')).map((v) => v.split(' ')[2]),
  );
  hashes.delete(createHash('sha256').digest('hex'));
  return [...hashes].filter(
    (hash) =>
      packs.has(hash) || existsSync(join(cacheDir, 'cas', 'objects', hash.slice(0, 2), hash.slice(2))),
  ).length;
}

/** The zstd stand-in in front of a casd (on TCP too with `tcp`, to serve Remote Asset). */
async function startZstdRemote(tcp: boolean): Promise<{ backing: TestCasd; server: LimitedRemote }> {
  const backing = await startTestCasd({ tcp });
  const server = await startLimitedRemote(backing.socket, {
    zstd: true,
    advertisedBatchBytes: 4 << 20,
    enforcedBatchBytes: 5 << 20,
  });
  return { backing, server };
}

describe('a restore from the Actions cache on a fresh runner writes each file once', () => {
  let cache: ActionsCacheEmulator;
  const runners: RunnerJob[] = [];
  beforeAll(async () => {
    cache = await startActionsCacheEmulator();
  });
  afterAll(async () => {
    for (const runner of runners) runner.remove();
    await cache?.stop();
  });

  async function job(
    key: string,
    build?: (tree: string) => void,
    extra: Record<string, string> = {},
  ): Promise<{ main: ActionRun; post: ActionRun; tree: string; cacheDir: string }> {
    const runner = createRunnerJob();
    runners.push(runner);
    const cacheDir = join(runner.root, 'casd-cache');
    const main = await runAction('main', {
      job: runner,
      inputs: {
        'casd-path': casdBinary(),
        'cache-dir': cacheDir,
        'save-local-cache': 'true',
        key,
        'restore-keys': 'write-once-',
        path: 'tree',
        ...extra,
      },
      env: cache.env,
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    const tree = join(runner.workspace, 'tree');
    build?.(tree);
    const post = await runAction('post', { after: main, env: cache.env });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    return { main, post, tree, cacheDir };
  }

  function makeTree(tree: string): void {
    for (let i = 0; i < 60; i++) {
      mkdirSync(join(tree, `d${i % 7}`, `e${i % 3}`), { recursive: true });
      writeFileSync(join(tree, `d${i % 7}`, `e${i % 3}`, `f${i}.txt`), `file ${i} `.repeat(50 + i));
    }
    writeFileSync(join(tree, 'run.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(join(tree, 'run.sh'), 0o755);
    writeFileSync(join(tree, 'empty-file'), '');
    mkdirSync(join(tree, 'empty-dir'));
    symlinkSync('d0/e0/f0.txt', join(tree, 'link'));
    symlinkSync('/etc/hostname', join(tree, 'absolute-link'));
  }

  let first: Awaited<ReturnType<typeof job>>;
  let expected: Map<string, string>;

  it('saves the tree on the first job', async () => {
    first = await job('write-once-1', makeTree);
    expected = describeTree(first.tree);
    expect(first.post.stdout).toContain('Saved the local cache');
  });

  it('restores it byte for byte, with no object file for the tree, and a post step that hashes and saves nothing', async () => {
    cache.stats.reset();
    const second = await job('write-once-1');
    expect(second.main.outputs['cache-hit']).toBe('true');
    expect(describeTree(second.tree)).toEqual(expected);
    // The tree's blobs stayed in the pack file: casd's store got none of its files.
    expect(treeObjectsIn(second.cacheDir, expected)).toBe(0);
    expect(readdirSync(join(second.cacheDir, 'cas', 'packs')).sort()).toHaveLength(2);
    expect(second.post.stdout).not.toContain('Saved the local cache');
    expect(cache.stats.requests.CreateCacheEntry ?? 0).toBe(0);
  });

  it('saves only the changed file after a change, and a fresh runner restores the new tree', async () => {
    const third = await job('write-once-2', (tree) => {
      writeFileSync(join(tree, 'd1', 'e1', 'f1.txt'), 'changed');
    });
    expect(third.main.outputs['matched-key']).toBe('write-once-1');
    const changed = describeTree(third.tree);
    expect(changed.get('d1/e1/f1.txt')).not.toBe(expected.get('d1/e1/f1.txt'));

    const fourth = await job('write-once-2');
    expect(fourth.main.outputs['cache-hit']).toBe('true');
    expect(describeTree(fourth.tree)).toEqual(changed);
    expect(treeObjectsIn(fourth.cacheDir, changed)).toBe(0);
  });
});

describe('a first save to a remote writes each file once', () => {
  let remote: TestCasd;
  const runners: RunnerJob[] = [];
  beforeAll(async () => {
    remote = await startTestCasd({ tcp: true });
  });
  afterAll(async () => {
    for (const runner of runners) runner.remove();
    await remote?.stop();
  });

  // One job against the remote; `cacheDir` reuses an earlier job's disk (a self-hosted runner).
  async function job(
    build?: (tree: string) => void,
    cacheDir?: string,
  ): Promise<{ main: ActionRun; post: ActionRun; tree: string; cacheDir: string }> {
    const runner = createRunnerJob();
    runners.push(runner);
    const dir = cacheDir ?? join(runner.root, 'casd-cache');
    const main = await runAction('main', {
      job: runner,
      inputs: {
        'casd-path': casdBinary(),
        'cache-dir': dir,
        remote: remote.url!,
        key: 'remote-once',
        path: 'tree',
      },
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    const tree = join(runner.workspace, 'tree');
    build?.(tree);
    const post = await runAction('post', { after: main });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    return { main, post, tree, cacheDir: dir };
  }

  it('captures into one pack, pushes from it, restores byte for byte; a later job on the same disk unpacks it', async () => {
    const first = await job((tree) => {
      for (let i = 0; i < 40; i++) {
        mkdirSync(join(tree, `d${i % 5}`), { recursive: true });
        writeFileSync(join(tree, `d${i % 5}`, `f${i}.txt`), `remote file ${i} `.repeat(30 + i));
      }
      writeFileSync(join(tree, 'run.sh'), '#!/bin/sh\necho hi\n');
      chmodSync(join(tree, 'run.sh'), 0o755);
      mkdirSync(join(tree, 'empty-dir'));
      symlinkSync('d0/f0.txt', join(tree, 'link'));
    });
    const expected = describeTree(first.tree);
    const files = new Set(
      [...expected.values()].filter((v) => v.startsWith('file ')).map((v) => v.split(' ')[2]),
    );
    // Written once: into the capture's pack, not as casd object files; all of it on the remote.
    expect(treeObjectsIn(first.cacheDir, expected)).toBe(0);
    expect(readdirSync(join(first.cacheDir, 'cas', 'packs')).length).toBeGreaterThan(0);
    expect(treeObjectsIn(remote.cacheDir, expected)).toBe(files.size);

    const second = await job();
    expect(second.main.outputs['cache-hit']).toBe('true');
    expect(describeTree(second.tree)).toEqual(expected);

    // The first job's disk again: nothing persists its pack, so main makes it casd's objects.
    const third = await job(undefined, first.cacheDir);
    expect(third.main.stdout).toMatch(/Made \d+ packed blobs of an earlier job available to casd/);
    expect(readdirSync(join(first.cacheDir, 'cas', 'packs'))).toEqual([]);
    expect(treeObjectsIn(first.cacheDir, expected)).toBe(files.size);
    expect(describeTree(third.tree)).toEqual(expected);
  });
});

// Where the remote sends zstd (which casd cannot take): the stand-in in front of a casd that
// also serves Remote Asset for the refs.
describe.skipIf(!hasZstd)('a restore from a remote that sends zstd writes each file once', () => {
  let backing: TestCasd;
  let server: LimitedRemote;
  const runners: RunnerJob[] = [];
  beforeAll(async () => {
    ({ backing, server } = await startZstdRemote(true));
  });
  afterAll(async () => {
    for (const runner of runners) runner.remove();
    await server?.stop();
    await backing?.stop();
  });

  async function job(
    key: string,
    build?: (tree: string, cacheDir: string) => void,
  ): Promise<{ main: ActionRun; post: ActionRun; tree: string; cacheDir: string }> {
    const runner = createRunnerJob();
    runners.push(runner);
    const cacheDir = join(runner.root, 'casd-cache');
    const main = await runAction('main', {
      job: runner,
      inputs: {
        'casd-path': casdBinary(),
        'cache-dir': cacheDir,
        remote: server.url,
        'remote-asset': backing.url!,
        key,
        'restore-keys': 'remote-restore-',
        path: 'tree',
      },
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    const tree = join(runner.workspace, 'tree');
    build?.(tree, cacheDir);
    const post = await runAction('post', { after: main });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    return { main, post, tree, cacheDir };
  }

  it('checks the tree out of the remote with no object file, and a changed job hashes and stores only what changed', async () => {
    const first = await job('remote-restore-1', (tree) => {
      for (let i = 0; i < 50; i++) {
        mkdirSync(join(tree, `d${i % 6}`), { recursive: true });
        writeFileSync(join(tree, `d${i % 6}`, `f${i}.txt`), `restored file ${i} `.repeat(20 + i));
      }
      // Above a batch: streamed into place; and the same content twice.
      const big = Buffer.alloc(3 * 1024 * 1024 + 11, 'big ');
      writeFileSync(join(tree, 'big.bin'), big);
      writeFileSync(join(tree, 'd0', 'big-copy.bin'), big);
      writeFileSync(join(tree, 'same-a'), 'same');
      writeFileSync(join(tree, 'same-b'), 'same');
      writeFileSync(join(tree, 'run.sh'), '#!/bin/sh\necho hi\n');
      chmodSync(join(tree, 'run.sh'), 0o755);
      mkdirSync(join(tree, 'empty-dir'));
      symlinkSync('d0/f0.txt', join(tree, 'link'));
    });
    const expected = describeTree(first.tree);

    const sentBefore = server.counters.zstdBlobsSent;
    const second = await job('remote-restore-2', (tree, cacheDir) => {
      expect(describeTree(tree)).toEqual(expected);
      // Straight from the remote into the workspace: casd's store holds none of the files.
      expect(treeObjectsIn(cacheDir, expected)).toBe(0);
      writeFileSync(join(tree, 'd1', 'f1.txt'), 'changed by the second job');
    });
    expect(second.main.outputs['cache-matched-key']).toBe('remote-restore-1');
    expect(server.counters.zstdBlobsSent - sentBefore).toBeGreaterThan(0);
    const changed = describeTree(second.tree);
    // The capture trusted the remote for the unchanged files: only the changed one was stored
    // (in the capture's pack, which the push read).
    expect(treeBlobsStoredIn(second.cacheDir, changed)).toBe(1);

    const third = await job('remote-restore-2');
    expect(third.main.outputs['cache-hit']).toBe('true');
    expect(describeTree(third.tree)).toEqual(changed);
  });
});

describe.skipIf(!hasZstd)('a push to a remote that takes zstd (compression input)', () => {
  let backing: TestCasd;
  let server: LimitedRemote;
  const runners: RunnerJob[] = [];
  beforeAll(async () => {
    ({ backing, server } = await startZstdRemote(false));
  });
  afterAll(async () => {
    for (const runner of runners) runner.remove();
    await server?.stop();
    await backing?.stop();
  });

  async function save(key: string, extra: Record<string, string>): Promise<ActionRun> {
    const runner = createRunnerJob();
    runners.push(runner);
    const main = await runAction('main', {
      job: runner,
      inputs: {
        'casd-path': casdBinary(),
        'cache-dir': join(runner.root, 'c'),
        remote: server.url,
        key,
        path: 'tree',
        ...extra,
      },
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    const tree = join(runner.workspace, 'tree');
    mkdirSync(tree, { recursive: true });
    for (let i = 0; i < 20; i++)
      writeFileSync(join(tree, `f${i}.txt`), `${key} compressible line ${i}\n`.repeat(400));
    const post = await runAction('post', { after: main });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    return post;
  }

  it('sends the blobs as zstd by default and plain with compression: off', async () => {
    server.resetCounters();
    await save('zstd-on', {});
    expect(server.counters.zstdBlobsReceived).toBeGreaterThanOrEqual(20);
    expect(server.counters.bytesReceived).toBeLessThan((20 * 400 * 30) / 5);

    server.resetCounters();
    await save('zstd-off', { compression: 'off' });
    expect(server.counters.zstdBlobsReceived).toBe(0);
    expect(server.counters.bytesReceived).toBeGreaterThan(20 * 400 * 25);
  });
});
