import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startActionsCacheEmulator, type ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { runAction, type ActionRun } from '../helpers/runner.js';
import { writeWorkspaceTree } from '../e2e/helpers.js';
import { baseInputs, messages, newJob, removeJobs } from './support.js';

// Since mid-2026 GitHub gives untrusted triggers read-only cache tokens: the runner sets
// ACTIONS_CACHE_MODE=read, and the service refuses entry creations with "cache write denied:".
describe('a read-only Actions cache', () => {
  let cache: ActionsCacheEmulator;

  beforeAll(async () => {
    cache = await startActionsCacheEmulator();
    // A writable job first, so that there is something to restore.
    const { post } = await job('seed', {});
    expect(post.exitCode, post.stdout).toBe(0);
    expect(cache.stats.entriesCreated).toBeGreaterThan(0);
  });
  afterEach(() => cache.faults.clear());
  afterAll(async () => {
    removeJobs();
    await cache?.stop();
  });

  async function job(
    key: string,
    env: Record<string, string>,
  ): Promise<{ main: ActionRun; post: ActionRun }> {
    const runner = newJob();
    // save-refs always: no job status to read here (that would warn).
    const inputs = baseInputs(runner, {
      'save-local-cache': 'true',
      'save-refs': 'always',
      path: 'out',
      key,
    });
    const main = await runAction('main', { job: runner, inputs, env: { ...cache.env, ...env } });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    writeWorkspaceTree(join(runner.workspace, 'out'), 10, key);
    const post = await runAction('post', { after: main, env: { ...cache.env, ...env } });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    return { main, post };
  }

  it('with ACTIONS_CACHE_MODE=read: restores, skips every save with one notice, says so in the summary', async () => {
    cache.faults.denyWritesNext(100);
    const created = cache.stats.requests.CreateCacheEntry ?? 0;
    const { main, post } = await job('read-mode', { ACTIONS_CACHE_MODE: 'read' });
    expect(main.stdout).toMatch(/Restored the local cache from/);
    expect(cache.stats.requests.CreateCacheEntry ?? 0).toBe(created);
    const notices = messages(post, 'notice').filter((m) => m.includes('read-only'));
    expect(notices, post.stdout).toHaveLength(1);
    expect(notices[0]).toContain('ACTIONS_CACHE_MODE is read');
    expect(messages(post, 'warning')).toEqual([]);
    expect(post.summary).toContain('read-only for this run');
  });

  it('a write the service refuses without ACTIONS_CACHE_MODE: one notice, no warning per pack', async () => {
    cache.faults.denyWritesNext(100);
    const created = cache.stats.requests.CreateCacheEntry ?? 0;
    const { post } = await job('denied', {});
    expect(cache.stats.requests.CreateCacheEntry ?? 0).toBe(created + 1);
    const notices = messages(post, 'notice').filter((m) => m.includes('read-only'));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('refused the write');
    expect(messages(post, 'warning')).toEqual([]);
    expect(post.summary).toContain('read-only for this run');
  });
});
