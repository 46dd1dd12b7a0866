// restore-keys as actions/cache users expect them, through the bundled action: a restore key
// matches an entry saved under exactly that key, else the newest entry whose key starts with
// it, whether or not the save listed that prefix; `matched-key` is the key restored, never the
// prefix; `cache-hit` only for the key itself. Once with a remote (a fresh runner per job, no
// Actions cache: a remote cannot list keys, so saves publish prefix pointers), once with the
// Actions cache emulator and no remote (the local cache is persisted and lists its keys).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startActionsCacheEmulator, type ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { casdBinary, startTestCasd, type TestCasd } from '../helpers/casd.js';
import { createRunnerJob, runAction, type ActionRun, type RunnerJob } from '../helpers/runner.js';
import { startJobsApi } from './helpers.js';

type JobsApi = Awaited<ReturnType<typeof startJobsApi>>;

interface Job {
  main: ActionRun;
  post: ActionRun;
  /** What the build step found in `out/saved-by` after main: the key whose save it restored. */
  restored?: string;
}

/**
 * Runs jobs on fresh runners: main; a build step that records what it restored, then writes
 * `out/saved-by` (its own key), or with `write: false` removes `out` so that nothing is saved;
 * post.
 */
function workflow(
  common: (runner: RunnerJob) => Record<string, string>,
  env: () => Record<string, string> = () => ({}),
) {
  const runners: RunnerJob[] = [];
  return {
    async job(inputs: Record<string, string>, options: { write?: boolean } = {}): Promise<Job> {
      const runner = createRunnerJob();
      runners.push(runner);
      const main = await runAction('main', {
        job: runner,
        inputs: { ...common(runner), ...inputs },
        env: env(),
      });
      expect(main.exitCode, main.stdout + main.stderr).toBe(0);
      const marker = join(runner.workspace, 'out', 'saved-by');
      let restored: string | undefined;
      try {
        restored = readFileSync(marker, 'utf8');
      } catch {
        restored = undefined;
      }
      if (options.write ?? true) {
        mkdirSync(join(runner.workspace, 'out'), { recursive: true });
        writeFileSync(marker, inputs.key);
      } else {
        // Nothing to save: a job that only looks must not become the newest save itself.
        rmSync(join(runner.workspace, 'out'), { recursive: true, force: true });
      }
      const post = await runAction('post', { after: main, env: env() });
      expect(post.exitCode, post.stdout + post.stderr).toBe(0);
      return { main, post, restored };
    },
    remove(): void {
      for (const runner of runners) runner.remove();
    },
  };
}

/** The outputs of a restore: what matched, and whether it was the key itself. */
const outcome = (job: Job) => ({
  'matched-key': job.main.outputs['matched-key'],
  'cache-hit': job.main.outputs['cache-hit'],
  restored: job.restored,
});

describe('restore-keys with a remote (fresh runners, nothing persisted)', () => {
  let remote: TestCasd;
  let api: JobsApi;
  let jobs: ReturnType<typeof workflow>;

  beforeAll(async () => {
    [remote, api] = await Promise.all([startTestCasd({ tcp: true }), startJobsApi()]);
    jobs = workflow(
      (runner) => ({
        'casd-path': casdBinary(),
        'cache-dir': join(runner.root, 'casd-cache'),
        remote: remote.url!,
        'save-local-cache': 'false',
        'github-token': 'ghs_test',
        path: 'out',
      }),
      () => api.env,
    );
  });
  afterAll(async () => {
    jobs?.remove();
    await Promise.all([remote?.stop(), api?.stop()]);
  });

  it('a prefix ending at a separator finds a key saved without any restore-keys, as that key', async () => {
    await jobs.job({ key: 'build-linux-aaa' });
    const next = await jobs.job({ key: 'build-linux-zzz', 'restore-keys': 'build-' }, { write: false });
    expect(outcome(next)).toEqual({
      'matched-key': 'build-linux-aaa',
      'cache-hit': 'false',
      restored: 'build-linux-aaa',
    });
    expect(next.main.stdout).toContain('from key build-linux-aaa (partial match)');
  });

  it('a restore key equal to an existing key matches that key', async () => {
    const next = await jobs.job({ key: 'other-1', 'restore-keys': 'build-linux-aaa' }, { write: false });
    expect(outcome(next)).toEqual({
      'matched-key': 'build-linux-aaa',
      'cache-hit': 'false',
      restored: 'build-linux-aaa',
    });
  });

  it('the newest save under a prefix wins, and cache-hit is true only for the key itself', async () => {
    await jobs.job({ key: 'build-linux-bbb' });
    const partial = await jobs.job(
      { key: 'build-linux-ccc', 'restore-keys': 'build-linux-\nbuild-' },
      { write: false },
    );
    expect(outcome(partial)).toEqual({
      'matched-key': 'build-linux-bbb',
      'cache-hit': 'false',
      restored: 'build-linux-bbb',
    });
    const exact = await jobs.job(
      { key: 'build-linux-aaa', 'restore-keys': 'build-linux-' },
      { write: false },
    );
    expect(outcome(exact)).toEqual({
      'matched-key': 'build-linux-aaa',
      'cache-hit': 'true',
      restored: 'build-linux-aaa',
    });
  });

  it('a restore key the saved key does not start with never finds it', async () => {
    await jobs.job({ key: 'deps-main-1', 'restore-keys': 'deps-develop-' });
    const next = await jobs.job({ key: 'deps-develop-2', 'restore-keys': 'deps-develop-' }, { write: false });
    expect(outcome(next)).toEqual({ 'matched-key': '', 'cache-hit': 'false', restored: undefined });
  });

  it('a prefix finds the newest entry saved for the same paths, not a newer one for other paths', async () => {
    await jobs.job({ key: 'tools-linux-1' });
    // Another workflow saves under the same prefix for other paths, after it.
    await jobs.job({ key: 'tools-linux-2', path: 'out\nextra' });
    const next = await jobs.job({ key: 'tools-linux-3', 'restore-keys': 'tools-' }, { write: false });
    expect(outcome(next)).toEqual({
      'matched-key': 'tools-linux-1',
      'cache-hit': 'false',
      restored: 'tools-linux-1',
    });
  });

  it('a job whose status cannot be read moves no pointer: the prefix still finds the last good save', async () => {
    api.httpStatus = 403;
    try {
      const unknown = await jobs.job({ key: 'build-linux-ddd' });
      const warning = unknown.post.commands.find(
        (c) => c.command === 'warning' && c.message.includes('actions: read'),
      );
      expect(warning?.message).toContain('saved key build-linux-ddd, which did not exist yet');
      expect(warning?.message).toContain(
        'restore-key pointer(s) that name another entry were kept (build-, build-linux-)',
      );
    } finally {
      api.httpStatus = 200;
    }
    const next = await jobs.job({ key: 'build-linux-eee', 'restore-keys': 'build-linux-' }, { write: false });
    expect(outcome(next)).toEqual({
      'matched-key': 'build-linux-bbb',
      'cache-hit': 'false',
      restored: 'build-linux-bbb',
    });
    // The key itself was saved: it did not exist.
    const exact = await jobs.job({ key: 'build-linux-ddd' }, { write: false });
    expect(outcome(exact)).toMatchObject({ 'matched-key': 'build-linux-ddd', 'cache-hit': 'true' });
  });
});

describe('restore-keys with the Actions cache and no remote (the local cache is persisted)', () => {
  let cache: ActionsCacheEmulator;
  let jobs: ReturnType<typeof workflow>;

  beforeAll(async () => {
    cache = await startActionsCacheEmulator();
    jobs = workflow(
      (runner) => ({
        'casd-path': casdBinary(),
        'cache-dir': join(runner.root, 'casd-cache'),
        'save-refs': 'always',
        path: 'out',
      }),
      () => cache.env,
    );
  });
  afterAll(async () => {
    jobs?.remove();
    await cache?.stop();
  });

  it('a prefix finds a key saved without restore-keys, as that key', async () => {
    const first = await jobs.job({ key: 'tool-linux-aaa' });
    expect(first.post.summary).toContain('✅ committed');
    const next = await jobs.job({ key: 'tool-linux-bbb', 'restore-keys': 'tool-' });
    expect(outcome(next)).toEqual({
      'matched-key': 'tool-linux-aaa',
      'cache-hit': 'false',
      restored: 'tool-linux-aaa',
    });
  });

  it('the newest save wins even after an older key was restored (which touches its ref) more recently', async () => {
    // Restoring tool-linux-aaa by name makes its ref the most recently used; this job's own
    // save then persists the local cache with that.
    const old = await jobs.job({ key: 'unrelated-1', 'restore-keys': 'tool-linux-aaa' });
    expect(outcome(old)).toMatchObject({ 'matched-key': 'tool-linux-aaa' });
    const next = await jobs.job({ key: 'tool-linux-ccc', 'restore-keys': 'tool-linux-' }, { write: false });
    expect(outcome(next)).toEqual({
      'matched-key': 'tool-linux-bbb',
      'cache-hit': 'false',
      restored: 'tool-linux-bbb',
    });
  });
});
