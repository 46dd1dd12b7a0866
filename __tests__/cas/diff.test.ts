import { chmodSync, cpSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer, formatDigest } from '../../src/cas/digest.js';
import { diffRefs, diffTrees } from '../../src/cas/trees/diff.js';
import { RefStore } from '../../src/cas/store/refs.js';
import { handDirectory, startStore, type StoreFixture, writeTree } from './tree-fixtures.js';

describe('diffTrees against a real casd', () => {
  let fx: StoreFixture;
  let base: string;
  let baseRoot: Digest;

  beforeAll(async () => {
    fx = await startStore();
    base = writeTree(join(fx.scratch(), 'base'), {
      'top.txt': 'top',
      'a/one.txt': 'one',
      'a/b/two.txt': 'two',
      'a/b/c/three.txt': 'three',
      'same/s.txt': 'same',
      tool: { content: 'tool', mode: 0o755 },
      link: { symlink: 'top.txt' },
    });
    baseRoot = await fx.store.importDirectory(base);
  });
  afterAll(async () => {
    await fx?.stop();
  });

  /** Copies the base tree, lets `change` edit it, imports the result. */
  async function variant(change: (dir: string) => void): Promise<Digest> {
    const dir = join(fx.scratch(), 'variant');
    cpSync(base, dir, { recursive: true, verbatimSymlinks: true });
    change(dir);
    return fx.store.importDirectory(dir);
  }

  it('finds nothing between a tree and itself', async () => {
    expect(await diffTrees(fx.store, baseRoot, baseRoot)).toEqual({ modified: [], removed: [], added: [] });
  });

  it('finds modified, removed and added files at depth', async () => {
    const other = await variant((dir) => {
      writeFileSync(join(dir, 'a', 'b', 'c', 'three.txt'), 'THREE');
      rmSync(join(dir, 'a', 'b', 'two.txt'));
      writeFileSync(join(dir, 'a', 'b', 'c', 'four.txt'), 'four');
      writeFileSync(join(dir, 'new-top.txt'), 'new');
    });
    expect(await diffTrees(fx.store, baseRoot, other)).toEqual({
      modified: ['a/b/c/three.txt'],
      removed: ['a/b/two.txt'],
      added: ['new-top.txt', 'a/b/c/four.txt'],
    });
  });

  it('lists every file of a removed or added subtree', async () => {
    const other = await variant((dir) => {
      rmSync(join(dir, 'a'), { recursive: true });
      writeTree(join(dir, 'fresh'), { 'x.txt': 'x', 'y/z.txt': 'z' });
    });
    const diff = await diffTrees(fx.store, baseRoot, other);
    expect(diff.modified).toEqual([]);
    expect(diff.removed.sort()).toEqual(['a/b/c/three.txt', 'a/b/two.txt', 'a/one.txt']);
    expect(diff.added.sort()).toEqual(['fresh/x.txt', 'fresh/y/z.txt']);
  });

  it('sees a changed executable bit and a changed symlink target as modifications', async () => {
    const other = await variant((dir) => {
      chmodSync(join(dir, 'tool'), 0o644);
      unlinkSync(join(dir, 'link'));
      symlinkSync('a/one.txt', join(dir, 'link'));
    });
    expect(await diffTrees(fx.store, baseRoot, other)).toEqual({
      modified: ['link', 'tool'],
      removed: [],
      added: [],
    });
  });

  it('sees a file replaced by a directory as removed plus added', async () => {
    const other = await variant((dir) => {
      rmSync(join(dir, 'top.txt'));
      writeTree(join(dir, 'top.txt'), { inner: 'inner' });
    });
    expect(await diffTrees(fx.store, baseRoot, other)).toEqual({
      modified: [],
      removed: ['top.txt'],
      added: ['top.txt/inner'],
    });
  });

  it('reads only subtrees whose digests differ', async () => {
    // Both trees share the subtree `shared`, whose Directory is NOT in the store: the diff
    // must succeed without reading it.
    const ghost = digestOfBuffer(Buffer.from('never stored directory'));
    const f1 = await fx.store.addObject({ buffer: Buffer.from('v1') });
    const f2 = await fx.store.addObject({ buffer: Buffer.from('v2') });
    const a = await fx.store.putDirectory(
      handDirectory({ files: [{ name: 'f', digest: f1 }], directories: [{ name: 'shared', digest: ghost }] }),
    );
    const b = await fx.store.putDirectory(
      handDirectory({ files: [{ name: 'f', digest: f2 }], directories: [{ name: 'shared', digest: ghost }] }),
    );
    expect(await diffTrees(fx.store, a, b)).toEqual({ modified: ['f'], removed: [], added: [] });
  });

  it('merges names correctly when a Directory was stored unsorted', async () => {
    const f = await fx.store.addObject({ buffer: Buffer.from('f') });
    const g = await fx.store.addObject({ buffer: Buffer.from('g') });
    const a = await fx.store.putDirectory(
      handDirectory({
        files: [
          { name: 'z', digest: f },
          { name: 'm', digest: f },
        ],
      }),
    );
    const b = await fx.store.putDirectory(
      handDirectory({
        files: [
          { name: 'm', digest: g },
          { name: 'a', digest: f },
        ],
      }),
    );
    expect(await diffTrees(fx.store, a, b)).toEqual({ modified: ['m'], removed: ['z'], added: ['a'] });
  });

  it('fails naming a differing Directory that is missing from the store', async () => {
    const ghost = digestOfBuffer(Buffer.from('missing side'));
    await expect(diffTrees(fx.store, baseRoot, ghost)).rejects.toThrow(
      `Directory ${formatDigest(ghost)} is not in the local cache`,
    );
  });

  it('diffs the trees two refs point to, and names a missing ref', async () => {
    const other = await variant((dir) => writeFileSync(join(dir, 'top.txt'), 'TOP'));
    const refs = new RefStore(fx.casd.cacheDir);
    await refs.set('diff/base', baseRoot);
    await refs.set('diff/other', other);
    expect(await diffRefs(fx.store, refs, 'diff/base', 'diff/other')).toEqual({
      modified: ['top.txt'],
      removed: [],
      added: [],
    });
    await expect(diffRefs(fx.store, refs, 'diff/base', 'diff/none')).rejects.toThrow(
      'ref "diff/none" does not exist',
    );
  });
});
