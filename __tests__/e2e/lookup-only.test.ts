import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startActionsCacheEmulator, type ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { casdBinary, startTestCasd, type TestCasd } from '../helpers/casd.js';
import { createRunnerJob, runAction, type ActionRun } from '../helpers/runner.js';
import { countObjects, readTree, writeWorkspaceTree } from './helpers.js';
import { localObjects, workflowJobs, type Jobs } from './jobs.js';

/** The actions/cache outputs of a main step. */
function keyOutputs(main: ActionRun): Record<string, string | undefined> {
  return {
    'cache-hit': main.outputs['cache-hit'],
    'matched-key': main.outputs['matched-key'],
    'cache-matched-key': main.outputs['cache-matched-key'],
    'cache-primary-key': main.outputs['cache-primary-key'],
  };
}

/** A build step that leaves no path behind (so that the post step has nothing to save). */
function removeOut(main: ActionRun): void {
  rmSync(join(main.job.workspace, 'out'), { recursive: true, force: true });
}

function expectGreen(run: ActionRun): void {
  expect(run.exitCode, run.stdout + run.stderr).toBe(0);
}

// lookup-only, as actions/cache has it: say whether key or a restore key exists, set the
// outputs, restore nothing. The post step saves nothing after an exact hit and saves path
// under key otherwise (actions/cache's save step skips only an exact hit of the primary key).
describe('lookup-only with a remote', () => {
  let remote: TestCasd;
  let jobs: Jobs;

  beforeAll(async () => {
    remote = await startTestCasd({ tcp: true });
    jobs = workflowJobs(
      (cacheDir) => ({
        'casd-path': casdBinary(),
        'cache-dir': cacheDir,
        remote: remote.url!,
        path: 'out',
        'save-local-cache': 'false',
        'save-refs': 'always',
      }),
      () => ({}),
    );
    const seed = await jobs.run(
      { key: 'lo-v1', 'restore-keys': 'lo-' },
      { build: (ws) => writeWorkspaceTree(join(ws, 'out'), 40, 'seed') },
    );
    expectGreen(seed.post);
    expect(seed.post.summary).toContain('✅ committed');
  });
  afterAll(async () => {
    jobs?.remove();
    await remote?.stop();
  });

  it('finds key on the remote, sets the outputs and restores no byte; post saves nothing', async () => {
    const remoteObjects = countObjects(remote.cacheDir);
    let localAfterMain: string[] = [];
    const { main, post } = await jobs.run(
      { key: 'lo-v1', 'restore-keys': 'lo-', 'lookup-only': 'true' },
      {
        build: (ws) => writeWorkspaceTree(join(ws, 'out'), 5, 'not-saved'),
        beforePost: (m) => (localAfterMain = localObjects(join(m.job.root, 'casd-cache'))),
      },
    );
    expectGreen(main);
    expect(keyOutputs(main)).toEqual({
      'cache-hit': 'true',
      'matched-key': 'lo-v1',
      'cache-matched-key': 'lo-v1',
      'cache-primary-key': 'lo-v1',
    });
    expect(main.stdout).toContain('Cache found and can be restored from key: lo-v1');
    // Nothing came from the remote into the local cache, nothing was written to path.
    expect(localAfterMain).toEqual([]);
    expect(main.stdout).not.toContain('Restored out');
    expectGreen(post);
    expect(post.summary).toContain('lookup-only');
    expect(countObjects(remote.cacheDir)).toBe(remoteObjects);

    // The key still holds the seed's tree: the exact hit's post step did not replace it.
    const next = await jobs.run({ key: 'lo-v1' });
    expect(next.main.outputs['cache-hit']).toBe('true');
    expect(Object.keys(readTree(join(next.job.workspace, 'out')))).toHaveLength(40);
  });

  it('restores nothing before the build step: path is absent when the job starts', async () => {
    let outExisted: boolean | undefined;
    const { main } = await jobs.run(
      { key: 'lo-v1', 'lookup-only': 'true' },
      { build: (ws) => (outExisted = existsSync(join(ws, 'out'))) },
    );
    expectGreen(main);
    expect(main.outputs['cache-hit']).toBe('true');
    expect(outExisted).toBe(false);
  });

  it('matches a restore key through the remote pointer, restoring nothing', async () => {
    // A plain restore of the same inputs finds it too (its post step saves nothing: no path).
    const restored = await jobs.run({ key: 'lo-v2', 'restore-keys': 'lo-' }, { beforePost: removeOut });
    expect(restored.main.outputs['cache-hit']).toBe('false');
    expect(restored.main.outputs['matched-key']).toBe('lo-v1');
    // The pointer names the prefix; lookup-only reads the key from the entry's root Directory
    // and manifest (in memory: the local cache gets nothing).
    const matched = 'lo-v1';

    let localAfterMain: string[] = [];
    const looked = await jobs.run(
      { key: 'lo-v2', 'restore-keys': 'lo-', 'lookup-only': 'true' },
      { beforePost: (m) => (localAfterMain = localObjects(join(m.job.root, 'casd-cache'))) },
    );
    expectGreen(looked.main);
    expect(keyOutputs(looked.main)).toEqual({
      'cache-hit': 'false',
      'matched-key': matched,
      'cache-matched-key': matched,
      'cache-primary-key': 'lo-v2',
    });
    expect(existsSync(join(looked.job.workspace, 'out'))).toBe(false);
    expect(localAfterMain).toEqual([]);
  });

  it('on a miss leaves the matched keys empty, and the post step saves path under key', async () => {
    const { main, post } = await jobs.run(
      { key: 'lo-miss', 'restore-keys': 'nothing-like-it-', 'lookup-only': 'true' },
      { build: (ws) => writeWorkspaceTree(join(ws, 'out'), 7, 'miss') },
    );
    expectGreen(main);
    expect(keyOutputs(main)).toEqual({
      'cache-hit': 'false',
      'matched-key': '',
      'cache-matched-key': '',
      'cache-primary-key': 'lo-miss',
    });
    expect(main.stdout).toContain('Cache not found for input keys: lo-miss, nothing-like-it-');
    expectGreen(post);
    expect(post.summary).toContain('✅ committed');
    const next = await jobs.run({ key: 'lo-miss' });
    expect(next.main.outputs['cache-hit']).toBe('true');
    expect(Object.keys(readTree(join(next.job.workspace, 'out')))).toHaveLength(7);
  });

  it('through the restore and save sub-actions: save saves nothing after an exact hit', async () => {
    const job = createRunnerJob();
    try {
      const remoteObjects = countObjects(remote.cacheDir);
      const restore = await runAction('restore', {
        job,
        inputs: {
          'casd-path': casdBinary(),
          'cache-dir': join(job.root, 'casd-cache'),
          remote: remote.url!,
          path: 'out',
          key: 'lo-v1',
          'lookup-only': 'true',
          'save-local-cache': 'false',
          'save-refs': 'always',
        },
      });
      expectGreen(restore);
      expect(keyOutputs(restore)).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': 'lo-v1' });
      expect(existsSync(join(job.workspace, 'out'))).toBe(false);
      writeWorkspaceTree(join(job.workspace, 'out'), 2, 'not-saved');
      const save = await runAction('save', { job, after: restore, inputs: {} });
      expectGreen(save);
      expect(save.stdout).toContain('lookup-only found key lo-v1');
      expect(countObjects(remote.cacheDir)).toBe(remoteObjects);
    } finally {
      job.remove();
    }
  });

  it('with fail-on-cache-miss fails on a miss and passes on a hit', async () => {
    const miss = await jobs.run({ key: 'lo-absent', 'lookup-only': 'true', 'fail-on-cache-miss': 'true' });
    expect(miss.main.exitCode).toBe(1);
    expect(miss.main.commands.find((c) => c.command === 'error')?.message).toContain(
      'Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: lo-absent',
    );
    expectGreen(miss.post);
    const hit = await jobs.run({ key: 'lo-v1', 'lookup-only': 'true', 'fail-on-cache-miss': 'true' });
    expectGreen(hit.main);
    expect(hit.main.outputs['cache-hit']).toBe('true');
  });
});

describe('lookup-only with the Actions cache and no remote', () => {
  let cache: ActionsCacheEmulator;
  let jobs: Jobs;

  /** The Actions-cache keys downloaded since the last reset, with their download counts. */
  const downloads = (): Record<string, number> =>
    Object.fromEntries(
      [...cache.stats.perKey].filter(([, s]) => s.downloads > 0).map(([key, s]) => [key, s.downloads]),
    );

  beforeAll(async () => {
    cache = await startActionsCacheEmulator();
    jobs = workflowJobs(
      (cacheDir) => ({
        'casd-path': casdBinary(),
        'cache-dir': cacheDir,
        path: 'out',
        'save-refs': 'always',
      }),
      () => cache.env,
    );
    const seed = await jobs.run(
      { key: 'ac-v1', 'restore-keys': 'ac-' },
      { build: (ws) => writeWorkspaceTree(join(ws, 'out'), 30, 'seed') },
    );
    expectGreen(seed.post);
    // The local cache was saved: this small one as one entry, its pack inside the index.
    expect(cache.stats.entriesCreated).toBeGreaterThanOrEqual(1);
  });
  afterAll(async () => {
    jobs?.remove();
    await cache?.stop();
  });

  it('finds key in the Actions cache, downloading only the small index entry, no pack', async () => {
    cache.stats.reset();
    let localAfterMain: string[] = [];
    let outExisted: boolean | undefined;
    const looked = await jobs.run(
      { key: 'ac-v1', 'restore-keys': 'ac-', 'lookup-only': 'true' },
      {
        build: (ws) => {
          outExisted = existsSync(join(ws, 'out'));
          writeWorkspaceTree(join(ws, 'out'), 3, 'not-saved');
        },
        beforePost: (m) => (localAfterMain = localObjects(join(m.job.root, 'casd-cache'))),
      },
    );
    expectGreen(looked.main);
    expect(keyOutputs(looked.main)).toEqual({
      'cache-hit': 'true',
      'matched-key': 'ac-v1',
      'cache-matched-key': 'ac-v1',
      'cache-primary-key': 'ac-v1',
    });
    const fetched = Object.keys(downloads());
    expect(fetched).toHaveLength(1);
    expect(fetched[0]).toMatch(/^casd-action-Linux-X64-index-/);
    // Nothing from the Actions cache went into the local cache or the workspace.
    expect(localAfterMain).toEqual([]);
    expect(existsSync(join(looked.cacheDir, 'cas', 'refs', 'heads', 'keys'))).toBe(false);
    expect(outExisted).toBe(false);
    expect(existsSync(join(looked.job.workspace, '.casd-action-persist'))).toBe(false);
    // The exact hit's post step saves nothing: no entry, no new index.
    expectGreen(looked.post);
    expect(cache.stats.entriesCreated).toBe(0);
  });

  it('matches a restore key as a restore would, downloading no pack', async () => {
    // A plain restore of the same inputs (its post step saves nothing: path is removed).
    const restored = await jobs.run({ key: 'ac-v2', 'restore-keys': 'ac-' }, { beforePost: removeOut });
    expect(restored.main.outputs['cache-hit']).toBe('false');
    const matched = restored.main.outputs['matched-key'];
    expect(matched).toBe('ac-v1');

    cache.stats.reset();
    const looked = await jobs.run({ key: 'ac-v2', 'restore-keys': 'ac-', 'lookup-only': 'true' });
    expectGreen(looked.main);
    expect(keyOutputs(looked.main)).toEqual({
      'cache-hit': 'false',
      'matched-key': matched,
      'cache-matched-key': matched,
      'cache-primary-key': 'ac-v2',
    });
    expect(Object.keys(downloads()).filter((key) => key.includes('-pack-'))).toEqual([]);
    expect(existsSync(join(looked.job.workspace, 'out'))).toBe(false);
    // The job wrote no path: nothing to save, and no index that would lack what is cached.
    expectGreen(looked.post);
    expect(cache.stats.entriesCreated).toBe(0);
  });

  it('on a miss, the post step saves path under key and keeps what the Actions cache held', async () => {
    cache.stats.reset();
    let mainDownloads: Record<string, number> = {};
    const looked = await jobs.run(
      { key: 'ac-miss', 'lookup-only': 'true' },
      {
        build: (ws) => writeWorkspaceTree(join(ws, 'out'), 9, 'miss'),
        beforePost: () => (mainDownloads = downloads()),
      },
    );
    expectGreen(looked.main);
    expect(keyOutputs(looked.main)).toEqual({
      'cache-hit': 'false',
      'matched-key': '',
      'cache-matched-key': '',
      'cache-primary-key': 'ac-miss',
    });
    expect(Object.keys(mainDownloads).filter((key) => key.includes('-pack-'))).toEqual([]);
    // Saving a key: the post step first restores what the main step skipped, then saves on it.
    expectGreen(looked.post);
    // (The packs of a cache this small travel inside the index entry: an index download.)
    const restoredInPost = Object.entries(downloads()).filter(
      ([key, count]) =>
        (key.includes('-pack-') || key.includes('-index-')) && count > (mainDownloads[key] ?? 0),
    );
    expect(restoredInPost.length).toBeGreaterThan(0);
    expect(cache.stats.entriesCreated).toBeGreaterThanOrEqual(1);

    // A later job finds the new key and, in the same newest index, the one saved before.
    for (const [key, files] of [
      ['ac-miss', 9],
      ['ac-v1', 30],
    ] as const) {
      const next = await jobs.run({ key, 'save-local-cache': 'true' });
      expect(next.main.outputs['cache-hit'], `${key}\n${next.main.stdout}`).toBe('true');
      expect(Object.keys(readTree(join(next.job.workspace, 'out')))).toHaveLength(files);
    }
  });

  it('with fail-on-cache-miss fails on a miss and saves nothing', async () => {
    cache.stats.reset();
    const miss = await jobs.run(
      { key: 'ac-absent', 'lookup-only': 'true', 'fail-on-cache-miss': 'true' },
      // The build step does not run after a failed step; a path to save would not matter.
      { beforePost: (m) => writeWorkspaceTree(join(m.job.workspace, 'out'), 3, 'never') },
    );
    expect(miss.main.exitCode).toBe(1);
    expect(miss.main.commands.find((c) => c.command === 'error')?.message).toContain('Input key: ac-absent');
    expectGreen(miss.post);
    expect(cache.stats.entriesCreated).toBe(0);
    expect(Object.keys(downloads()).filter((key) => key.includes('-pack-'))).toEqual([]);
  });
});

describe('lookup-only on a runner that keeps its cache directory', () => {
  let jobs: Jobs;
  let shared: string;

  beforeAll(async () => {
    shared = mkdtempSync(join(tmpdir(), 'casd-lookup-shared-'));
    jobs = workflowJobs(
      () => ({
        'casd-path': casdBinary(),
        'cache-dir': shared,
        path: 'out',
        'save-local-cache': 'false',
        'save-refs': 'always',
      }),
      () => ({}),
    );
    const seed = await jobs.run(
      { key: 'local-v1' },
      { build: (ws) => writeWorkspaceTree(join(ws, 'out'), 8, 'local') },
    );
    expectGreen(seed.post);
  });
  afterAll(() => {
    jobs?.remove();
    rmSync(shared, { recursive: true, force: true });
  });

  it('finds a key the local cache holds by a restore key, restoring nothing', async () => {
    const objects = localObjects(shared).length;
    let afterMain = 0;
    const { main } = await jobs.run(
      { key: 'local-v2', 'restore-keys': 'local-', 'lookup-only': 'true' },
      { beforePost: () => (afterMain = localObjects(shared).length) },
    );
    expectGreen(main);
    expect(keyOutputs(main)).toEqual({
      'cache-hit': 'false',
      'matched-key': 'local-v1',
      'cache-matched-key': 'local-v1',
      'cache-primary-key': 'local-v2',
    });
    expect(main.stdout).toContain('in the local cache');
    expect(existsSync(join(main.job.workspace, 'out'))).toBe(false);
    expect(afterMain).toBe(objects);
  });

  it('does not count a key whose tree the local cache no longer holds whole', async () => {
    // Expiry took one file of the tree (the largest object: a file, not a Directory).
    const files = localObjects(shared).map((hash) =>
      join(shared, 'cas', 'objects', hash.slice(0, 2), hash.slice(2)),
    );
    const largest = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
    rmSync(largest);
    const { main } = await jobs.run({ key: 'local-v1', 'lookup-only': 'true' });
    expectGreen(main);
    expect(main.outputs['cache-hit']).toBe('false');
    expect(main.outputs['cache-matched-key']).toBe('');
  });
});
