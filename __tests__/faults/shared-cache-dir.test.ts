import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runAction } from '../helpers/runner.js';
import { writeWorkspaceTree } from '../e2e/helpers.js';
import { baseInputs, expectNoPartialObjects, messages, newJob, removeJobs } from './support.js';

afterAll(removeJobs);

describe('two jobs sharing one cache directory at once', () => {
  it('the second job gets a directory of its own beside the shared one, with a notice', async () => {
    const shared = join(newJob().root, 'shared-cache');
    const [jobA, jobB] = [newJob(), newJob()];
    const inputsA = baseInputs(jobA, { 'cache-dir': shared, path: 'out', key: 'shared-a' });
    const inputsB = baseInputs(jobB, { 'cache-dir': shared, path: 'out', key: 'shared-b' });
    const [mainA, mainB] = await Promise.all([
      runAction('main', { job: jobA, inputs: inputsA, env: { GITHUB_RUN_ID: '11', GITHUB_JOB: 'a' } }),
      runAction('main', { job: jobB, inputs: inputsB, env: { GITHUB_RUN_ID: '22', GITHUB_JOB: 'b' } }),
    ]);
    expect(mainA.exitCode, mainA.stdout + mainA.stderr).toBe(0);
    expect(mainB.exitCode, mainB.stdout + mainB.stderr).toBe(0);
    const notices = [...messages(mainA, 'notice'), ...messages(mainB, 'notice')];
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(
      new RegExp(`^${shared} is in use by another job \\(.+\\); this job uses ${shared}-`),
    );
    const privateDir = /this job uses (\S+)$/.exec(notices[0])![1];
    expect(existsSync(join(privateDir, 'cas', 'objects'))).toBe(true);
    // Two daemons, two sockets, never one directory.
    expect(mainA.outputs.socket).not.toBe(mainB.outputs.socket);

    writeWorkspaceTree(join(jobA.workspace, 'out'), 10, 'a');
    writeWorkspaceTree(join(jobB.workspace, 'out'), 10, 'b');
    const [postA, postB] = await Promise.all([
      runAction('post', { after: mainA, env: { GITHUB_RUN_ID: '11', GITHUB_JOB: 'a' } }),
      runAction('post', { after: mainB, env: { GITHUB_RUN_ID: '22', GITHUB_JOB: 'b' } }),
    ]);
    expect(postA.exitCode, postA.stdout).toBe(0);
    expect(postB.exitCode, postB.stdout).toBe(0);
    expect(expectNoPartialObjects(shared)).toBeGreaterThan(0);
    // The private directory served its job and is removed by that job's post step.
    expect(existsSync(privateDir)).toBe(false);
    // The lock is released: the next job uses the shared directory again.
    expect(readdirSync(shared)).not.toContain('.casd-action.lock');
    const jobC = newJob();
    const mainC = await runAction('main', { job: jobC, inputs: baseInputs(jobC, { 'cache-dir': shared }) });
    expect(messages(mainC, 'notice')).toEqual([]);
    expect((await runAction('post', { after: mainC })).exitCode).toBe(0);
  });
});
