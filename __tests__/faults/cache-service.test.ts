import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { runAction, type ActionRun, type RunnerJob } from '../helpers/runner.js';
import { writeWorkspaceTree } from '../e2e/helpers.js';
import { baseInputs, messages, newJob, useCacheEmulator } from './support.js';

describe('Actions cache service errors through the bundled action', () => {
  let cache: ActionsCacheEmulator;
  useCacheEmulator((started) => (cache = started));

  /** main, a job step writing `out`, then post, all with the local cache persisted. */
  async function job(
    key: string,
    between: (job: RunnerJob) => void,
    extra: Record<string, string> = {},
  ): Promise<{ main: ActionRun; post: ActionRun }> {
    const runner = newJob();
    const inputs = baseInputs(runner, { 'save-local-cache': 'true', path: 'out', key, ...extra });
    const main = await runAction('main', { job: runner, inputs, env: cache.env });
    writeWorkspaceTree(join(runner.workspace, 'out'), 10, key);
    between(runner);
    const post = await runAction('post', { after: main, env: cache.env });
    return { main, post };
  }

  it('HTTP 429 on every save request: warnings, the job stays green', async () => {
    const { main, post } = await job('rate-limited', () =>
      cache.faults.failNext(50, 429, 'CreateCacheEntry'),
    );
    expect(main.exitCode).toBe(0);
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    const warnings = messages(post, 'warning');
    expect(warnings.length, post.stdout).toBeGreaterThan(0);
    expect(warnings.join('\n')).toMatch(/429|rate|Too Many Requests/i);
    expect(post.summary).toContain('Warnings');
  });

  it('HTTP 500 on restore: a warning, the job goes on without the local cache', async () => {
    cache.faults.failNext(50, 500, 'GetCacheEntryDownloadURL');
    const runner = newJob();
    const main = await runAction('main', {
      job: runner,
      inputs: baseInputs(runner, { 'save-local-cache': 'true', 'restore-timeout': '5s' }),
      env: cache.env,
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    expect(messages(main, 'warning').join('\n')).toMatch(
      /^could not restore the cache index of casd-action-Linux-X64: /m,
    );
    expect(main.outputs.socket).toMatch(/^unix:/);
    cache.faults.clear();
    const post = await runAction('post', { after: main, env: cache.env });
    expect(post.exitCode).toBe(0);
  });

  it('a reserve conflict for an entry that never appears is retried, quietly', async () => {
    const { post } = await job('conflict', () => cache.faults.conflictNext(1));
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    expect(messages(post, 'error')).toEqual([]);
    expect(messages(post, 'warning')).toEqual([]);
    expect(cache.stats.perKey.size).toBeGreaterThan(0);
  });

  it('with fail-on-cache-error: true, a 500 on save fails the job with a clear message', async () => {
    const { post } = await job('must-save', () => cache.faults.failNext(50, 500, 'CreateCacheEntry'), {
      'fail-on-cache-error': 'true',
      'save-timeout': '5s',
    });
    expect(post.exitCode).toBe(1);
    const [error] = messages(post, 'error');
    expect(error).toMatch(
      /^cache trouble \(fail-on-cache-error is set\): saving the local cache to the Actions cache: /,
    );
    expect(post.stdout).not.toMatch(/^\s+at /m);
  });
});
