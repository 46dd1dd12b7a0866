import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/casd/process.js';
import { startActionsCacheEmulator, type ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { runComposite } from '../helpers/composite.js';
import { startReleaseServer } from '../helpers/release.js';
import { createRunnerJob, runAction, runnerPath, type ActionRun, type RunnerJob } from '../helpers/runner.js';
import { readTree, writeWorkspaceTree } from './helpers.js';

type Release = Awaited<ReturnType<typeof startReleaseServer>>;

/** A composite action as a user would write one: restore, build on a miss, save on a miss. */
const COMPOSITE = `name: build-with-cache
inputs:
  key:
    required: true
  remote:
    default: ''
  casd-url:
    default: ''
  casd-version:
    default: ''
  casd-sha256:
    default: ''
  cache-dir:
    default: ''
runs:
  using: composite
  steps:
    - id: restore
      uses: casd-action/casd-action/restore@v1
      with:
        path: out
        key: \${{ inputs.key }}
        remote: \${{ inputs.remote }}
        casd-url: \${{ inputs.casd-url }}
        casd-version: \${{ inputs.casd-version }}
        casd-sha256: \${{ inputs.casd-sha256 }}
        cache-dir: \${{ inputs.cache-dir }}
        save-refs: always
    - if: steps.restore.outputs.cache-hit != 'true'
      run: mkdir -p out && echo "built for \${{ inputs.key }}" > out/result.txt
      shell: bash
    - id: save
      if: steps.restore.outputs.cache-hit != 'true'
      uses: casd-action/casd-action/save@v1
      with:
        key: \${{ steps.restore.outputs.cache-primary-key }}
`;

function daemonPid(run: ActionRun): number {
  return (JSON.parse(run.state['casd-main']!) as { daemon: { pid: number } }).daemon.pid;
}

describe('the restore/ and save/ sub-actions', () => {
  let release: Release;
  let remote: TestCasd;
  let cache: ActionsCacheEmulator;
  const jobs: RunnerJob[] = [];
  let compositeYaml: string;

  beforeAll(async () => {
    [release, remote, cache] = await Promise.all([
      startReleaseServer(),
      startTestCasd({ tcp: true }),
      startActionsCacheEmulator(),
    ]);
    const dir = createRunnerJob();
    jobs.push(dir);
    mkdirSync(join(dir.root, 'build-with-cache'));
    compositeYaml = join(dir.root, 'build-with-cache', 'action.yml');
    writeFileSync(compositeYaml, COMPOSITE);
  });
  afterAll(async () => {
    for (const job of jobs) job.remove();
    await Promise.all([release?.stop(), remote?.stop(), cache?.stop()]);
  });

  const path = runnerPath();

  function newJob(): RunnerJob {
    const job = createRunnerJob();
    jobs.push(job);
    return job;
  }

  function compositeInputs(job: RunnerJob, key: string, withRemote: boolean): Record<string, string> {
    return {
      key,
      remote: withRemote ? remote.url! : '',
      'casd-url': release.urlTemplate,
      'casd-version': '1.4.30',
      'casd-sha256': release.sha256,
      'cache-dir': join(job.root, 'casd-cache'),
    };
  }

  for (const backend of ['a remote', 'the Actions cache'] as const) {
    it(`a composite action restores, builds and saves on a miss, then hits on a fresh runner (${backend})`, async () => {
      const withRemote = backend === 'a remote';
      const key = `composite-${withRemote ? 'remote' : 'actions'}`;
      const env = { ...cache.env, PATH: path };
      const first = newJob();
      const cold = await runComposite(compositeYaml, {
        job: first,
        inputs: compositeInputs(first, key, withRemote),
        env,
      });
      expect(cold.ok, cold.log).toBe(true);
      const restore = cold.steps.restore!;
      expect(restore.outputs['cache-hit']).toBe('false');
      expect(restore.outputs['cache-primary-key']).toBe(key);
      expect(restore.outputs['cache-matched-key']).toBe('');
      expect(restore.outputs.socket).toMatch(/^unix:\//);
      expect(restore.outputs.bazelrc).toBeTruthy();
      expect(cold.steps.save!.skipped).toBe(false);
      // save stopped the daemon restore started, and ended the session.
      expect(processAlive(daemonPid(restore.run!))).toBe(false);
      expect(existsSync(join(first.root, 'casd-cache', 'casd-action-session.json'))).toBe(false);
      expect(cold.steps.save!.run!.summary).toContain('✅ committed');

      const second = newJob();
      const warm = await runComposite(compositeYaml, {
        job: second,
        inputs: compositeInputs(second, key, withRemote),
        env,
      });
      expect(warm.ok, warm.log).toBe(true);
      expect(warm.steps.restore!.outputs['cache-hit']).toBe('true');
      expect(warm.steps.restore!.outputs['cache-matched-key']).toBe(key);
      expect(warm.steps.save!.skipped).toBe(true);
      expect(readTree(join(second.workspace, 'out'))).toEqual({ 'result.txt': `-built for ${key}\n` });
      // Restore leaves the daemon running for the rest of the job (the runner ends it).
      const pid = daemonPid(warm.steps.restore!.run!);
      expect(processAlive(pid)).toBe(true);
      const ended = await runAction('save', {
        job: second,
        after: warm.steps.restore!.run!,
        inputs: {},
        env,
      });
      expect(ended.exitCode, ended.stdout).toBe(0);
      expect(processAlive(pid)).toBe(false);
    });
  }

  it('save takes path and key from restore, saves mid-job, and the job goes on without the daemon', async () => {
    const job = newJob();
    const env = { PATH: path };
    const restore = await runAction('restore', {
      job,
      inputs: {
        'casd-url': release.urlTemplate,
        'casd-version': '1.4.30',
        'casd-sha256': release.sha256,
        'cache-dir': join(job.root, 'elsewhere'),
        remote: remote.url!,
        path: 'out',
        key: 'mid-job',
        'save-refs': 'always',
      },
      env,
    });
    expect(restore.exitCode, restore.stdout).toBe(0);
    expect(restore.exportedEnv.CASD_ACTION_SESSION).toBe(
      join(job.root, 'elsewhere', 'casd-action-session.json'),
    );
    writeWorkspaceTree(join(job.workspace, 'out'), 5, 'mid');
    // No cache-dir given: the session is found through CASD_ACTION_SESSION.
    const save = await runAction('save', { job, after: restore, inputs: {}, env });
    expect(save.exitCode, save.stdout).toBe(0);
    expect(save.summary).toContain('saved mid-job');
    expect(processAlive(daemonPid(restore))).toBe(false);

    const next = newJob();
    const check = await runAction('restore', {
      job: next,
      inputs: {
        'casd-url': release.urlTemplate,
        'casd-version': '1.4.30',
        'casd-sha256': release.sha256,
        'cache-dir': join(next.root, 'casd-cache'),
        remote: remote.url!,
        path: 'out',
        key: 'mid-job',
        'save-local-cache': 'false',
      },
      env,
    });
    expect(check.outputs['cache-hit']).toBe('true');
    const expected = join(next.root, 'expected');
    writeWorkspaceTree(expected, 5, 'mid');
    expect(readTree(join(next.workspace, 'out'))).toEqual(readTree(expected));
    await runAction('save', { job: next, after: check, inputs: {}, env });
  });

  it('save without a restore warns and saves nothing; the job stays green', async () => {
    const job = newJob();
    const save = await runAction('save', {
      job,
      inputs: { 'cache-dir': join(job.root, 'nothing-here'), path: 'out', key: 'k' },
      env: { PATH: path },
    });
    expect(save.exitCode).toBe(0);
    expect(save.commands.find((c) => c.command === 'warning')?.message).toMatch(
      /no session of casd-action\/restore was found/,
    );
  });
});
