import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReleaseServer } from '../helpers/release.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { createRunnerJob, runAction, runnerPath, type RunnerJob } from '../helpers/runner.js';
import { startJobsApi, writeWorkspaceTree } from './helpers.js';

type Release = Awaited<ReturnType<typeof startReleaseServer>>;
type JobsApi = Awaited<ReturnType<typeof startJobsApi>>;

// The post step asks the REST API whether the job succeeded (~0.25 s a request on GitHub). On a
// save it asks while the capture runs, not after it; on a key hit, whose post step usually saves
// nothing, it asks only when it has something to publish.
describe('the post step reads the job status', () => {
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

  async function job(
    seed: string | undefined,
  ): Promise<{ cacheDir: string; requests: boolean[]; summary: string }> {
    const runner = createRunnerJob();
    jobs.push(runner);
    const cacheDir = join(runner.root, 'casd-cache');
    const inputs = {
      'casd-url': release.urlTemplate,
      'casd-version': '1.4.30',
      'cache-dir': cacheDir,
      remote: remote.url!,
      path: 'out',
      key: 'job-status-read-k',
      'save-local-cache': 'false',
      'github-token': 'ghs_test',
    };
    const env = { ...api.env, PATH: runnerPath() };
    const main = await runAction('main', { job: runner, inputs, env });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    if (seed) writeWorkspaceTree(join(runner.workspace, 'out'), 3000, seed);
    // Whether the capture had finished (its stat cache is written last) when the request came.
    const statCache = join(cacheDir, 'cas', 'stat-cache');
    const requests: boolean[] = [];
    api.onRequest = () => requests.push(existsSync(statCache) && readdirSync(statCache).length > 0);
    try {
      const post = await runAction('post', { after: main, env });
      expect(post.exitCode, post.stdout + post.stderr).toBe(0);
      return { cacheDir, requests, summary: post.summary };
    } finally {
      api.onRequest = undefined;
    }
  }

  it('while the capture of a new save runs, and not at all on an unchanged key hit', async () => {
    const first = await job('one');
    expect(first.requests).toEqual([false]);
    expect(first.summary).toContain('the job succeeded');
    // The same key again, nothing written: a hit whose capture is unchanged asks nothing.
    const hit = await job(undefined);
    expect(hit.requests).toEqual([]);
    expect(hit.summary).toContain('exact hit and nothing changed');
  });
});
