import {
  closeSync,
  lstatSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
  constants as fsConstants,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturePaths, restorePaths, stageDirectory } from '../../src/action/key-tree.js';
import { captureIncremental } from '../../src/cas/incremental-capture.js';
import { CasError } from '../../src/errors.js';
import { startStore, type StoreFixture, writeTree } from '../cas/tree-fixtures.js';

const OLD = new Date('2001-01-01T00:00:00Z');

describe('key trees: capturePaths and restorePaths against a real casd', () => {
  let fx: StoreFixture;
  beforeAll(async () => {
    fx = await startStore();
  });
  afterAll(async () => {
    await fx?.stop();
  });

  /** A saved `path` (a build output tree), removed from disk after capture. */
  async function saved(): Promise<{ dir: string; root: Awaited<ReturnType<typeof capturePaths>>['root'] }> {
    const dir = writeTree(join(fx.scratch(), 'out'), {
      'main.o': 'object code',
      'lib/util.o': 'more object code',
      'bin/tool': { content: '#!/bin/sh\n', mode: 0o755 },
      'bin/alias': { symlink: 'tool' },
    });
    // A whole-second mtime, so that a test can put it back exactly.
    utimesSync(join(dir, 'main.o'), OLD, OLD);
    const { root } = await capturePaths(fx.store, [dir]);
    rmSync(dir, { recursive: true });
    return { dir, root };
  }

  it('restores a path as ordinary writable files that a build can overwrite in place, leaving the store intact', async () => {
    const { dir, root } = await saved();
    expect(await restorePaths(fx.store, root, [dir])).toBe(true);
    expect(statSync(join(dir, 'main.o')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'bin', 'tool')).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir, 'main.o')).nlink).toBe(1);
    expect(lstatSync(join(dir, 'bin', 'alias')).isSymbolicLink()).toBe(true);
    // As gcc writes its outputs: open with O_TRUNC and write.
    const fd = openSync(join(dir, 'main.o'), fsConstants.O_WRONLY | fsConstants.O_TRUNC);
    writeSync(fd, 'rebuilt');
    closeSync(fd);
    const check = join(fx.scratch(), 'check');
    await stageDirectory(fx.store, (await fx.store.readDirectory(root)).directories[0].digest!, check);
    expect(readFileSync(join(check, 'main.o'), 'utf8')).toBe('object code');
  });

  it('seeds the stat cache, so that the post step capture of an unchanged path hashes nothing', async () => {
    const { dir, root } = await saved();
    await restorePaths(fx.store, root, [dir]);
    const captured = await captureIncremental(fx.store, dir);
    expect(captured).toMatchObject({ filesHashed: 0, filesReused: 3, full: false });
    expect((await capturePaths(fx.store, [dir])).root).toEqual(root);
  });

  it('catches a same-size rewrite with the mtime put back, made right after the restore', async () => {
    const { dir, root } = await saved();
    await restorePaths(fx.store, root, [dir]);
    const file = join(dir, 'main.o');
    utimesSync(file, OLD, OLD);
    const before = statSync(file, { bigint: true });
    writeFileSync(file, 'OBJECT CODE');
    utimesSync(file, OLD, OLD);
    const after = statSync(file, { bigint: true });
    expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);
    const captured = await captureIncremental(fx.store, dir);
    expect(captured.filesHashed).toBe(1);
    expect((await capturePaths(fx.store, [dir])).root).not.toEqual(root);
  });

  it('merges into a non-empty path and still seeds the restored files', async () => {
    const { dir, root } = await saved();
    writeTree(dir, { 'stale.txt': 'left from before', 'main.o': 'old object code' });
    expect(await restorePaths(fx.store, root, [dir])).toBe(true);
    expect(readFileSync(join(dir, 'main.o'), 'utf8')).toBe('object code');
    expect(readFileSync(join(dir, 'stale.txt'), 'utf8')).toBe('left from before');
    const captured = await captureIncremental(fx.store, dir);
    // Only the file that was not part of the restored tree is hashed.
    expect(captured).toMatchObject({ filesHashed: 1, filesReused: 3 });
  });

  it('hard-links files only when asked (link: true), executables still copied', async () => {
    const { dir, root } = await saved();
    expect(await restorePaths(fx.store, root, [dir], { link: true })).toBe(true);
    expect(statSync(join(dir, 'main.o')).nlink).toBeGreaterThan(1);
    expect(statSync(join(dir, 'main.o')).mode & 0o777).toBe(0o444);
    expect(statSync(join(dir, 'bin', 'tool')).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir, 'bin', 'tool')).nlink).toBe(1);
  });

  it('does not seed when told not to: the next capture hashes everything', async () => {
    const { dir, root } = await saved();
    const statCacheDir = fx.scratch();
    await restorePaths(fx.store, root, [dir], { seedStatCache: false, statCacheDir });
    expect((await captureIncremental(fx.store, dir, { statCacheDir })).full).toBe(true);
  });

  it('writes nothing and answers false for a tree saved for other paths', async () => {
    const { dir, root } = await saved();
    const other = join(fx.scratch(), 'other');
    expect(await restorePaths(fx.store, root, [other])).toBe(false);
    expect(() => statSync(other)).toThrow();
    expect(() => statSync(dir)).toThrow();
  });

  it('names the missing blobs when the tree is incomplete, and writes nothing', async () => {
    const dir = writeTree(join(fx.scratch(), 'out'), { 'a.txt': 'will be lost from the store' });
    const { root } = await capturePaths(fx.store, [dir]);
    rmSync(dir, { recursive: true });
    const blob = fx.store.objectPath(
      (await fx.store.readDirectory((await fx.store.readDirectory(root)).directories[0].digest!)).files[0]
        .digest!,
    );
    rmSync(blob);
    const error = (await restorePaths(fx.store, root, [dir]).catch((e: unknown) => e)) as CasError;
    expect(error).toBeInstanceOf(CasError);
    expect(error.reason).toBe('blob-not-found');
    expect(error.message).toContain('1 file blob(s) are missing from the local cache');
    expect(() => statSync(dir)).toThrow();
  });
});
