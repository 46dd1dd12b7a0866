import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWorkspaceTree } from '../e2e/helpers.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { runAction } from '../helpers/runner.js';
import { baseInputs, newJob, removeJobs } from './support.js';

describe('a local exact hit the remote lacks (self-hosted runner after a push that never happened)', () => {
  let remote: TestCasd;
  beforeAll(async () => {
    remote = await startTestCasd({ tcp: true });
  });
  afterAll(async () => {
    removeJobs();
    await remote?.stop();
  });

  it('is pushed by the next job even though nothing changed', async () => {
    const cacheDir = join(newJob().root, 'shared-cache');
    const inputs = (job: ReturnType<typeof newJob>, extra: Record<string, string> = {}) =>
      baseInputs(job, { 'cache-dir': cacheDir, remote: remote.url!, path: 'out', key: 'lacking', ...extra });

    // Job 1 saves the key locally only (pushing off).
    const job1 = newJob();
    const main1 = await runAction('main', { job: job1, inputs: inputs(job1, { push: 'false' }) });
    expect(main1.exitCode, main1.stdout).toBe(0);
    writeWorkspaceTree(join(job1.workspace, 'out'), 12, 'lacking');
    const post1 = await runAction('post', { after: main1 });
    expect(post1.summary).toContain('saved lacking locally</p>');

    // Job 2 on the same runner: an exact hit from the local cache, nothing changed.
    const job2 = newJob();
    const main2 = await runAction('main', { job: job2, inputs: inputs(job2) });
    expect(main2.outputs['cache-hit']).toBe('true');
    const post2 = await runAction('post', { after: main2 });
    expect(post2.exitCode, post2.stdout).toBe(0);
    expect(post2.stdout).toContain('exact hit locally but the remote lacks it');
    expect(post2.summary).toContain('saved lacking locally and on the remote');

    // Job 3 on a fresh runner finds it on the remote.
    const job3 = newJob();
    const main3 = await runAction('main', {
      job: job3,
      inputs: baseInputs(job3, { remote: remote.url!, path: 'out', key: 'lacking' }),
    });
    expect(main3.outputs['cache-hit']).toBe('true');
    expect((await runAction('post', { after: main3 })).summary).toContain('exact hit and nothing changed');
  });
});
