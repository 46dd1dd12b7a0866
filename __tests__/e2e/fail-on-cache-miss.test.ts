import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startActionsCacheEmulator, type ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { casdBinary, startTestCasd, type TestCasd } from '../helpers/casd.js';
import { createRunnerJob, runAction, type ActionRun } from '../helpers/runner.js';
import { countObjects, readTree, writeWorkspaceTree } from './helpers.js';
import { alive, daemonPid, workflowJobs, type Jobs } from './jobs.js';

function expectGreen(run: ActionRun): void {
  expect(run.exitCode, run.stdout + run.stderr).toBe(0);
}

const removeOut = (main: ActionRun): void =>
  rmSync(join(main.job.workspace, 'out'), { recursive: true, force: true });

// fail-on-cache-miss and the outputs of actions/cache/restore (cache-primary-key,
// cache-matched-key), so that workflows written for actions/cache work unchanged.
describe('fail-on-cache-miss and the actions/cache outputs, with a remote', () => {
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
      { key: 'fm-v1', 'restore-keys': 'fm-' },
      { build: (ws) => writeWorkspaceTree(join(ws, 'out'), 12, 'seed') },
    );
    expectGreen(seed.post);
  });
  afterAll(async () => {
    jobs?.remove();
    await remote?.stop();
  });

  it('sets cache-primary-key and cache-matched-key to the key on an exact hit', async () => {
    const { main } = await jobs.run({ key: 'fm-v1', 'restore-keys': 'fm-' });
    expectGreen(main);
    expect(main.outputs['cache-hit']).toBe('true');
    expect(main.outputs['cache-primary-key']).toBe('fm-v1');
    expect(main.outputs['cache-matched-key']).toBe('fm-v1');
    expect(main.outputs['matched-key']).toBe('fm-v1');
  });

  it('sets cache-matched-key to the restored key on a partial match', async () => {
    const { main } = await jobs.run({ key: 'fm-v2', 'restore-keys': 'fm-' }, { beforePost: removeOut });
    expectGreen(main);
    expect(main.outputs['cache-hit']).toBe('false');
    expect(main.outputs['cache-primary-key']).toBe('fm-v2');
    expect(main.outputs['matched-key']).not.toBe('');
    expect(main.outputs['cache-matched-key']).toBe(main.outputs['matched-key']);
  });

  it('leaves cache-matched-key empty on a miss, cache-primary-key still the key', async () => {
    const { main } = await jobs.run({ key: 'fm-none', 'restore-keys': 'nope-' });
    expectGreen(main);
    expect(main.outputs['cache-hit']).toBe('false');
    expect(main.outputs['cache-primary-key']).toBe('fm-none');
    expect(main.outputs['cache-matched-key']).toBe('');
    expect(main.outputs['matched-key']).toBe('');
  });

  it('fails the main step on a miss, stopping the daemon and saving nothing', async () => {
    const remoteObjects = countObjects(remote.cacheDir);
    let pid = 0;
    let daemonRanAfterMain = true;
    const { main, post } = await jobs.run(
      { key: 'fm-absent', 'restore-keys': 'nope-\nnot-either-', 'fail-on-cache-miss': 'true' },
      {
        // Whatever is at path (the build step does not run after a failed step) is not saved.
        checkout: (ws) => writeWorkspaceTree(join(ws, 'out'), 4, 'checked-out'),
        beforePost: (m) => {
          pid = daemonPid(m);
          daemonRanAfterMain = alive(pid);
        },
      },
    );
    expect(main.exitCode).toBe(1);
    const errors = main.commands.filter((c) => c.command === 'error').map((c) => c.message);
    expect(errors).toEqual([
      'Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: fm-absent (restore keys: nope-, not-either-; looked up locally and on the remote)',
    ]);
    expect(main.stdout).not.toMatch(/^\s+at /m);
    expect(main.outputs['cache-primary-key']).toBe('fm-absent');
    expect(main.outputs['cache-hit']).toBe('false');

    // The main step stopped it (the restore sub-action has no post step to do so).
    expect(daemonRanAfterMain).toBe(false);
    expect(existsSync(main.outputs.socket.replace(/^unix:/, ''))).toBe(false);
    expectGreen(post);
    expect(countObjects(remote.cacheDir)).toBe(remoteObjects);
    const next = await jobs.run({ key: 'fm-absent' }, { beforePost: removeOut });
    expect(next.main.outputs['cache-hit']).toBe('false');
    expect(main.summary).toContain('fail-on-cache-miss');
    expect(post.stdout).toContain('nothing to save');
  });

  it('the restore sub-action, which has no post step, stops its daemon when it fails on a miss', async () => {
    const job = createRunnerJob();
    try {
      const restore = await runAction('restore', {
        job,
        inputs: {
          'casd-path': casdBinary(),
          'cache-dir': join(job.root, 'casd-cache'),
          remote: remote.url!,
          path: 'out',
          key: 'fm-absent-restore',
          'fail-on-cache-miss': 'true',
        },
      });
      expect(restore.exitCode).toBe(1);
      expect(restore.commands.find((c) => c.command === 'error')?.message).toContain(
        'Input key: fm-absent-restore',
      );
      expect(alive(daemonPid(restore))).toBe(false);
      // The session is over: a save step (`if: always()`) finds nothing to save.
      expect(existsSync(join(job.root, 'casd-cache', 'casd-action-session.json'))).toBe(false);
    } finally {
      job.remove();
    }
  });

  it('passes on an exact hit and on a partial match', async () => {
    const hit = await jobs.run({ key: 'fm-v1', 'fail-on-cache-miss': 'true' });
    expectGreen(hit.main);
    expect(Object.keys(readTree(join(hit.job.workspace, 'out')))).toHaveLength(12);
    const partial = await jobs.run(
      { key: 'fm-v3', 'restore-keys': 'fm-', 'fail-on-cache-miss': 'true' },
      { beforePost: removeOut },
    );
    expectGreen(partial.main);
    expect(partial.main.outputs['cache-hit']).toBe('false');
  });
});

describe('fail-on-cache-miss with the Actions cache and no remote', () => {
  let cache: ActionsCacheEmulator;
  let jobs: Jobs;

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
      { key: 'fa-v1' },
      { build: (ws) => writeWorkspaceTree(join(ws, 'out'), 6, 'seed') },
    );
    expectGreen(seed.post);
  });
  afterAll(async () => {
    jobs?.remove();
    await cache?.stop();
  });

  it('restores an exact hit from the Actions cache and passes, with both outputs set', async () => {
    const { main } = await jobs.run({ key: 'fa-v1', 'fail-on-cache-miss': 'true' });
    expectGreen(main);
    expect(main.outputs['cache-primary-key']).toBe('fa-v1');
    expect(main.outputs['cache-matched-key']).toBe('fa-v1');
  });

  it('fails on a miss, and the post step saves nothing to the Actions cache', async () => {
    cache.stats.reset();
    let pid = 0;
    const { main, post } = await jobs.run(
      { key: 'fa-absent', 'fail-on-cache-miss': 'true' },
      {
        checkout: (ws) => writeWorkspaceTree(join(ws, 'out'), 2, 'checked-out'),
        beforePost: (m) => (pid = daemonPid(m)),
      },
    );
    expect(main.exitCode).toBe(1);
    expect(main.commands.find((c) => c.command === 'error')?.message).toBe(
      'Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: fa-absent (looked up locally and in the Actions cache)',
    );
    expect(alive(pid)).toBe(false);
    expectGreen(post);
    expect(cache.stats.entriesCreated).toBe(0);
    const next = await jobs.run({ key: 'fa-absent' }, { beforePost: removeOut });
    expect(next.main.outputs['cache-hit']).toBe('false');
  });
});
