import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockCacheDir, unlockCacheDir, updateLock } from '../../src/action/cache-lock.js';

function deadPid(): number {
  const child = spawnSync('true');
  return child.pid as number;
}

describe('cache directory lock', () => {
  it('lets exactly one of many jobs starting at once have the shared directory', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lock-')), 'cache');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => lockCacheDir(dir, `job-${i}`)));
    expect(results.filter((r) => r.shared)).toHaveLength(1);
    for (const r of results.filter((r) => !r.shared)) expect(r.dir.startsWith(`${dir}-job-`)).toBe(true);
    expect(readdirSync(dir)).toEqual(['.casd-action.lock']);
  });

  it('takes over a lock left by a job that is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-'));
    writeFileSync(join(dir, '.casd-action.lock'), JSON.stringify({ pid: deadPid(), job: 'crashed' }));
    expect(await lockCacheDir(dir, 'next')).toEqual({ dir, shared: true });
  });

  it('names the live holder, keeps its lock through an update, and releases only its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-'));
    await lockCacheDir(dir, 'first');
    await updateLock(dir, 'first', process.pid);
    const second = await lockCacheDir(dir, 'second');
    expect(second).toMatchObject({ shared: false, holder: 'first' });
    await unlockCacheDir(dir, 'second');
    expect(readdirSync(dir)).toEqual(['.casd-action.lock']);
    await unlockCacheDir(dir, 'first');
    expect(readdirSync(dir)).toEqual([]);
  });
});
