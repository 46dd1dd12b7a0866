import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { startReleaseServer } from '../helpers/release.js';
import { createRunnerJob, runAction, runnerPath, type ActionRun, type RunnerJob } from '../helpers/runner.js';
import { readTree, startJobsApi, writeWorkspaceTree } from './helpers.js';

type Release = Awaited<ReturnType<typeof startReleaseServer>>;
type JobsApi = Awaited<ReturnType<typeof startJobsApi>>;

// A token without `actions: read` (the default in repositories with restricted token
// permissions) cannot read the job status, so the post step cannot tell a failed job from a
// good one: it may add keys, never replace one.
describe('a job whose status cannot be read', () => {
  let release: Release;
  let remote: TestCasd;
  let api: JobsApi;
  const jobs: RunnerJob[] = [];

  beforeAll(async () => {
    [release, remote, api] = await Promise.all([
      startReleaseServer(),
      startTestCasd({ tcp: true }),
      startJobsApi(),
    ]);
  });
  afterAll(async () => {
    for (const job of jobs) job.remove();
    await Promise.all([release?.stop(), remote?.stop(), api?.stop()]);
  });

  const path = runnerPath();

  /** One job on a fresh runner: main, the build step writes `out`, post. */
  async function job(key: string, seed: string | undefined): Promise<{ main: ActionRun; post: ActionRun }> {
    const runner = createRunnerJob();
    jobs.push(runner);
    const inputs = {
      'casd-url': release.urlTemplate,
      'casd-version': '1.4.30',
      'cache-dir': join(runner.root, 'casd-cache'),
      remote: remote.url!,
      path: 'out',
      key,
      'save-local-cache': 'false',
      'github-token': 'ghs_test',
    };
    const env = { ...api.env, PATH: path };
    const main = await runAction('main', { job: runner, inputs, env });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    if (seed) writeWorkspaceTree(join(runner.workspace, 'out'), 20, seed);
    const post = await runAction('post', { after: main, env });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    return { main, post };
  }

  it('does not replace a key that exists, and warns naming actions: read', async () => {
    api.httpStatus = 200;
    await job('unknown-status-k', 'good');
    api.httpStatus = 403;
    try {
      const { main, post } = await job('unknown-status-k', 'maybe-broken');
      expect(main.outputs['cache-hit']).toBe('true');
      const warning = post.commands.find(
        (c) => c.command === 'warning' && c.message.includes('actions: read'),
      );
      expect(warning?.message).toMatch(/not replacing key unknown-status-k, which already exist/);
      expect(post.summary).toContain('the job status is unknown');
    } finally {
      api.httpStatus = 200;
    }
    // The next job still gets the good value.
    const runner = createRunnerJob();
    jobs.push(runner);
    const next = await runAction('main', {
      job: runner,
      inputs: {
        'casd-url': release.urlTemplate,
        'casd-version': '1.4.30',
        'cache-dir': join(runner.root, 'casd-cache'),
        remote: remote.url!,
        path: 'out',
        key: 'unknown-status-k',
        'save-local-cache': 'false',
      },
      env: { PATH: path },
    });
    expect(next.outputs['cache-hit']).toBe('true');
    const expected = join(runner.root, 'expected');
    writeWorkspaceTree(expected, 20, 'good');
    expect(readTree(join(runner.workspace, 'out'))).toEqual(readTree(expected));
    await runAction('post', { after: next, env: { PATH: path } });
  });

  it('publishes a key that does not exist yet, with the same warning', async () => {
    api.httpStatus = 403;
    try {
      const { post } = await job('unknown-status-new', 'first');
      const warning = post.commands.find(
        (c) => c.command === 'warning' && c.message.includes('actions: read'),
      );
      expect(warning?.message).toMatch(/saved key unknown-status-new, which did not exist yet/);
      expect(post.summary).toContain('✅ committed');
    } finally {
      api.httpStatus = 200;
    }
  });
});
