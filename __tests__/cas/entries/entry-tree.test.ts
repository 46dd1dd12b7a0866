import {
  closeSync,
  existsSync,
  lstatSync,
  openSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  constants as fsConstants,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  capturePaths,
  storeEntry,
  readEntry,
  restorePaths as restoreEntry,
} from '../../../src/cas/entries/entry-tree.js';
import type { PathRoots } from '../../../src/cas/entries/paths.js';
import { stageDirectory } from '../../../src/cas/entries/stage.js';
import { captureIncremental } from '../../../src/cas/capture/incremental-capture.js';
import { CasError } from '../../../src/errors.js';
import { handDirectory, startStore, type StoreFixture, writeTree } from '../tree-fixtures.js';

const OLD = new Date('2001-01-01T00:00:00Z');

/** capturePaths, then its entry stored, as the post step does before publishing. */
async function captureStored(...args: Parameters<typeof capturePaths>) {
  const captured = await capturePaths(...args);
  await storeEntry(args[0], captured);
  return captured;
}

describe('key trees: capturePaths and restorePaths against a real casd', () => {
  let fx: StoreFixture;
  beforeAll(async () => {
    fx = await startStore();
  });
  afterAll(async () => {
    await fx?.stop();
  });

  /** The roots of a runner whose workspace and home hold nothing of these tests' paths. */
  const roots: PathRoots = { workspace: '/nonexistent/workspace', home: '/nonexistent/home' };
  /** Captures the absolute paths `paths`, each a pattern matching itself. */
  const capture = (paths: string[]) =>
    captureStored(
      fx.store,
      { key: 'k', patterns: paths, paths: paths.map((path) => ({ base: 'absolute', path })) },
      roots,
    );
  const restorePaths = (
    store: StoreFixture['store'],
    root: Awaited<ReturnType<typeof capturePaths>>['root'],
    paths: string[],
    options?: Parameters<typeof restoreEntry>[4],
  ) => restoreEntry(store, root, paths, roots, options);

  /** A saved `path` (a build output tree), removed from disk after capture. */
  async function saved(): Promise<{
    dir: string;
    root: Awaited<ReturnType<typeof capturePaths>>['root'];
    contentId: string;
  }> {
    const dir = writeTree(join(fx.scratch(), 'out'), {
      'main.o': 'object code',
      'lib/util.o': 'more object code',
      'bin/tool': { content: '#!/bin/sh\n', mode: 0o755 },
      'bin/alias': { symlink: 'tool' },
    });
    // A whole-second mtime, so that a test can put it back exactly.
    utimesSync(join(dir, 'main.o'), OLD, OLD);
    const { root, contentId } = await capture([dir]);
    rmSync(dir, { recursive: true });
    return { dir, root, contentId };
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
    const { dir, root, contentId } = await saved();
    await restorePaths(fx.store, root, [dir]);
    const captured = await captureIncremental(fx.store, dir);
    expect(captured).toMatchObject({ filesHashed: 0, filesReused: 3, full: false });
    expect((await capture([dir])).contentId).toEqual(contentId);
  });

  it('catches a same-size rewrite with the mtime put back, made right after the restore', async () => {
    const { dir, root, contentId } = await saved();
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
    expect((await capture([dir])).contentId).not.toEqual(contentId);
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
    const { root } = await capture([dir]);
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

  /** Two runners: their own workspace and home, as a job on another machine gets. */
  function twoRunners(): [PathRoots, PathRoots] {
    const make = (): PathRoots => {
      const root = fx.scratch();
      return { workspace: join(root, 'work', 'repo'), home: join(root, 'home') };
    };
    return [make(), make()];
  }

  it('puts each path back under the workspace and home of the runner that restores it', async () => {
    const [first, second] = twoRunners();
    writeTree(first.workspace, { 'out/a.o': 'a', 'bin/tool': { content: 'tool', mode: 0o755 } });
    writeTree(first.home, { '.npm/index': 'npm' });
    symlinkSync('bin/tool', join(first.workspace, 'current'));
    const patterns = ['~/.npm', 'out', 'bin/tool', 'current'];
    const paths = [
      { base: 'home', path: '.npm' },
      { base: 'workspace', path: 'out' },
      { base: 'workspace', path: 'bin/tool' },
      { base: 'workspace', path: 'current' },
    ] as const;
    const { root } = await captureStored(fx.store, { key: 'k', patterns, paths: [...paths] }, first);
    expect(await restoreEntry(fx.store, root, patterns, second)).toBe(true);
    expect(readFileSync(join(second.home, '.npm', 'index'), 'utf8')).toBe('npm');
    expect(readFileSync(join(second.workspace, 'out', 'a.o'), 'utf8')).toBe('a');
    expect(statSync(join(second.workspace, 'bin', 'tool')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(second.workspace, 'current'))).toBe('bin/tool');
  });

  it('records the key, the patterns and the save time in entry.json', async () => {
    const [runner] = twoRunners();
    writeTree(runner.workspace, { 'out/a.o': 'a' });
    const { root } = await captureStored(
      fx.store,
      { key: 'build-linux-1', patterns: ['out', 'gone'], paths: [{ base: 'workspace', path: 'out' }] },
      runner,
      1234,
    );
    const { entry } = await readEntry(fx.store, root);
    expect(entry).toEqual({
      key: 'build-linux-1',
      patterns: ['out', 'gone'],
      paths: [{ base: 'workspace', path: 'out' }],
      savedAtMs: 1234,
      legacy: false,
    });
  });

  /** An entry as versions before entry.json saved it: paths.json and entry i = path i. */
  async function legacyEntry(paths: string[], contents: Record<string, string>) {
    const dir = writeTree(join(fx.scratch(), 'legacy'), contents);
    const entry = (await captureIncremental(fx.store, dir)).root;
    const manifest = await fx.store.addObject({ buffer: Buffer.from(JSON.stringify(paths)) });
    return fx.store.putDirectory(
      handDirectory({
        files: [{ name: 'paths.json', digest: manifest }],
        directories: [{ name: '0', digest: entry }],
      }),
    );
  }

  it('restores a legacy entry (paths.json) into the workspace when its paths are the patterns', async () => {
    const [runner] = twoRunners();
    const root = await legacyEntry(['out'], { 'a.o': 'old format' });
    expect(await restoreEntry(fx.store, root, ['out'], runner)).toBe(true);
    expect(readFileSync(join(runner.workspace, 'out', 'a.o'), 'utf8')).toBe('old format');
  });

  it('misses a legacy entry for other patterns, or for patterns it could not have meant (~, globs)', async () => {
    const [runner] = twoRunners();
    expect(await restoreEntry(fx.store, await legacyEntry(['out'], { a: 'a' }), ['other'], runner)).toBe(
      false,
    );
    for (const pattern of ['~/.npm', 'build/**/*.o', '../up']) {
      const root = await legacyEntry([pattern], { a: 'a' });
      expect(await restoreEntry(fx.store, root, [pattern], runner), pattern).toBe(false);
    }
    expect(existsSync(runner.workspace)).toBe(false);
  });

  it('refuses an entry recording a path outside what the patterns match, writing nothing', async () => {
    const [runner] = twoRunners();
    const outside = join(fx.scratch(), 'outside');
    writeTree(runner.workspace, { 'out/a': 'a' });
    const { root } = await captureStored(
      fx.store,
      { key: 'k', patterns: ['out'], paths: [{ base: 'absolute', path: join(runner.workspace, 'out') }] },
      runner,
    );
    // The same entry, claiming to hold `outside` for the pattern `out`.
    const directory = await fx.store.readDirectory(root);
    const forged = Buffer.from(
      JSON.stringify({
        version: 2,
        key: 'k',
        patterns: ['out'],
        paths: [{ base: 'absolute', path: outside }],
        savedAtMs: 1,
      }),
    );
    const manifest = await fx.store.addObject({ buffer: forged });
    const hostile = await fx.store.putDirectory({
      ...directory,
      files: directory.files.map((f) => (f.name === 'entry.json' ? { ...f, digest: manifest } : f)),
    });
    const error = (await restoreEntry(fx.store, hostile, ['out'], runner).catch(
      (e: unknown) => e,
    )) as CasError;
    expect(error.reason).toBe('unsafe-tree');
    expect(error.message).toContain(
      `"path":${JSON.stringify(outside)}} is outside what the path patterns match`,
    );
    expect(existsSync(outside)).toBe(false);
  });
});
