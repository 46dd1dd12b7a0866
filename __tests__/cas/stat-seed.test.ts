import { chmodSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout } from '../../src/cas/trees/checkout.js';
import type { Digest } from '../../src/cas/digest.js';
import { captureIncremental } from '../../src/cas/capture/incremental-capture.js';
import { loadStatCache, statCachePath } from '../../src/cas/capture/stat-cache.js';
import { seedStatCache } from '../../src/cas/capture/stat-seed.js';
import type { VisitedDirectory } from '../../src/cas/trees/tree.js';
import { startStore, type StoreFixture, writeTree } from './tree-fixtures.js';

const OLD = new Date('2001-01-01T00:00:00Z');

describe('seedStatCache after a checkout, against a real casd', () => {
  let fx: StoreFixture;
  let root: Digest;
  let statCacheDir: string;

  beforeAll(async () => {
    fx = await startStore();
    statCacheDir = fx.scratch();
    const src = writeTree(join(fx.scratch(), 'src'), {
      'README.md': 'read me',
      'bin/run': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      'bin/link': { symlink: 'run' },
      'deep/er/file.txt': 'deep file',
      'deep/er/same.txt': 'deep file',
      'empty-dir': { dir: true },
    });
    root = await fx.store.importDirectory(src);
  });
  afterAll(async () => {
    await fx?.stop();
  });

  /** A fresh checkout of the tree, seeded; gives the directory. */
  async function restoreSeeded(beforeSeeding?: (dest: string) => void): Promise<string> {
    const dest = join(fx.scratch(), 'restored');
    const visited: VisitedDirectory[] = [];
    await checkout(fx.store, root, dest, { onDirectory: (v) => visited.push(v) });
    beforeSeeding?.(dest);
    const seeded = await seedStatCache(fx.store, root, dest, { statCacheDir, tree: visited });
    expect(seeded).toMatchObject({ files: 4, skipped: 0 });
    return dest;
  }

  it('records every restored file, so that the next capture hashes nothing and gives the same root', async () => {
    const dest = await restoreSeeded();
    const captured = await captureIncremental(fx.store, dest, { statCacheDir });
    expect(captured).toMatchObject({ root, filesHashed: 0, filesReused: 4, full: false });
  });

  it('records the fine racy window on a filesystem with sub-second timestamps', async () => {
    const dest = await restoreSeeded();
    const loaded = await loadStatCache(statCachePath(statCacheDir, dest, ''), dest);
    // This machine's filesystems (ext4, tmpfs) keep nanosecond timestamps.
    expect(loaded.cache?.racyWindowNs).toBe(20_000_000n);
    expect(loaded.cache?.dirs.get('')).toEqual(root);
  });

  it('catches a same-size rewrite with the mtime put back, made right after the restore', async () => {
    // A whole-second mtime, so that putting it back is exact to the nanosecond.
    const dest = await restoreSeeded((d) => utimesSync(join(d, 'deep', 'er', 'file.txt'), OLD, OLD));
    const file = join(dest, 'deep', 'er', 'file.txt');
    const before = statSync(file, { bigint: true });
    writeFileSync(file, 'DEEP FILE');
    utimesSync(file, OLD, OLD);
    const after = statSync(file, { bigint: true });
    expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);
    const captured = await captureIncremental(fx.store, dest, { statCacheDir });
    expect(captured.filesHashed).toBe(1);
    expect(captured.root).not.toEqual(root);
    expect(captured.root).toEqual(await fx.store.importDirectory(dest));
  });

  it('catches a change of the executable bit made right after the restore', async () => {
    const dest = await restoreSeeded();
    chmodSync(join(dest, 'README.md'), 0o755);
    const captured = await captureIncremental(fx.store, dest, { statCacheDir });
    expect(captured.filesHashed).toBe(1);
    expect(captured.root).toEqual(await fx.store.importDirectory(dest));
  });

  it('leaves out files that no longer match the tree when it is seeded (size, mode, gone)', async () => {
    const dest = join(fx.scratch(), 'restored');
    await checkout(fx.store, root, dest);
    writeFileSync(join(dest, 'README.md'), 'longer than before');
    chmodSync(join(dest, 'bin', 'run'), 0o644);
    writeFileSync(join(dest, 'deep', 'er', 'same.txt'), '');
    const seeded = await seedStatCache(fx.store, root, dest, { statCacheDir });
    expect(seeded).toMatchObject({ files: 1, skipped: 3 });
    const captured = await captureIncremental(fx.store, dest, { statCacheDir });
    expect(captured.filesReused).toBe(1);
    expect(captured.root).toEqual(await fx.store.importDirectory(dest));
  });

  it('names the Directory that is missing when the tree is not in the store', async () => {
    const dest = fx.scratch();
    const absent = { hash: 'ab'.repeat(32), sizeBytes: 12 };
    await expect(seedStatCache(fx.store, absent, dest, { statCacheDir })).rejects.toThrow(
      `Directory ${'ab'.repeat(32)}/12 is not in the local cache`,
    );
    expect(readdirSync(dest)).toEqual([]);
  });
});
