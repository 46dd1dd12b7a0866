// Without a remote, the main step starts casd while the local cache downloads from the Actions
// cache: that restore leaves casd's store alone (its packs stay pack files until casd runs), so
// the daemon's start (0.1-0.3 s) need not wait for the download. A restore that fails under
// fail-on-cache-error still fails the step and leaves no daemon behind.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { describeTree } from '../helpers/describe-tree.js';
import { runAction } from '../helpers/runner.js';
import { baseInputs, messages, newJob, useCacheEmulator } from '../faults/support.js';
import { writeWorkspaceTree } from './helpers.js';

/** Pids of the processes (casd, its supervisor) whose command line names `cacheDir`. */
function processesUsing(cacheDir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(join('/proc', name, 'cmdline'), 'utf8').includes(cacheDir)) pids.push(Number(name));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

describe('the main step and the local cache restore', () => {
  let cache: ActionsCacheEmulator;
  useCacheEmulator((started) => (cache = started));

  it('starts casd while the local cache downloads, and restores the tree', async () => {
    const first = newJob();
    const inputs = (dir: string) =>
      baseInputs(first, { 'cache-dir': dir, 'save-local-cache': 'true', path: 'out', key: 'overlap-k' });
    const saveMain = await runAction('main', {
      job: first,
      inputs: inputs(join(first.root, 'casd-cache')),
      env: cache.env,
    });
    expect(saveMain.exitCode, saveMain.stdout).toBe(0);
    writeWorkspaceTree(join(first.workspace, 'out'), 40, 'overlap');
    const saved = describeTree(join(first.workspace, 'out'));
    const savePost = await runAction('post', { after: saveMain, env: cache.env });
    expect(savePost.exitCode, savePost.stdout).toBe(0);

    const second = newJob();
    const cacheDir = join(second.root, 'casd-cache');
    let daemonDuringDownload: boolean | undefined;
    // The index entry's archive (the save's one entry) is answered only once casd runs, or after 15 s.
    cache.faults.holdNext(1, 'download', async () => {
      daemonDuringDownload = await waitFor(() => processesUsing(cacheDir).length > 0, 15_000);
    });
    const main = await runAction('main', { job: second, inputs: inputs(cacheDir), env: cache.env });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    expect(daemonDuringDownload).toBe(true);
    expect(main.outputs['cache-hit']).toBe('true');
    expect(describeTree(join(second.workspace, 'out'))).toEqual(saved);
    const post = await runAction('post', { after: main, env: cache.env });
    expect(post.exitCode, post.stdout).toBe(0);
  });

  it('with fail-on-cache-error, a failed restore fails the step and stops the daemon started beside it', async () => {
    cache.faults.failNext(50, 500, 'GetCacheEntryDownloadURL');
    const runner = newJob();
    const cacheDir = join(runner.root, 'casd-cache');
    const main = await runAction('main', {
      job: runner,
      inputs: baseInputs(runner, {
        'save-local-cache': 'true',
        'fail-on-cache-error': 'true',
        'restore-timeout': '5s',
      }),
      env: cache.env,
    });
    expect(main.exitCode).toBe(1);
    expect(messages(main, 'error').join('\n')).toMatch(
      /could not restore the cache index of casd-action-Linux-X64: /,
    );
    expect(main.stdout).not.toMatch(/^\s+at /m);
    expect(await waitFor(() => processesUsing(cacheDir).length === 0, 5_000)).toBe(true);
  });
});
