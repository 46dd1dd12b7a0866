import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer } from '../../src/cas/digest.js';
import { Remote } from '../../src/cas/remote/remote.js';
import { DigestSample, blobsBeyond } from '../../src/cas/remote/tree-delta.js';
import { requiredBlobs } from '../../src/cas/trees/tree.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { objectFile } from './remote-helpers.js';
import { collect, startStore, type StoreFixture, writeTree } from './tree-fixtures.js';

const blob = (text: string): Digest => digestOfBuffer(Buffer.from(text));
const hashes = (digests: Digest[]): string[] => digests.map((d) => d.hash).sort();

/** 8 directories of 8 files, plus a nested pair; `salt` makes every file of a tree distinct. */
function layout(salt: string): Record<string, string> {
  const entries: Record<string, string> = { 'deep/er/leaf': `${salt} leaf` };
  for (let d = 0; d < 8; d++) for (let f = 0; f < 8; f++) entries[`d${d}/f${f}`] = `${salt} ${d}/${f}`;
  return entries;
}

describe('blobsBeyond: the blobs of a tree that a base tree does not hold at the same path', () => {
  let fx: StoreFixture;
  let base: Digest;
  let src: string;

  beforeAll(async () => {
    fx = await startStore();
    src = writeTree(join(fx.scratch(), 'src'), layout('base'));
    base = await fx.store.importDirectory(src);
  });
  afterAll(async () => {
    await fx?.stop();
  });

  it('yields nothing for the base itself and offers its root as skipped', async () => {
    const skipped: Digest[] = [];
    expect(await collect(blobsBeyond(fx.store, base, [base], (d) => skipped.push(d)))).toEqual([]);
    expect(skipped).toEqual([base]);
  });

  it('after one file changes: that file and the Directories above it, nothing else', async () => {
    writeFileSync(join(src, 'd3', 'f5'), 'changed');
    const changed = await fx.store.importDirectory(src);
    const skipped: Digest[] = [];
    const yielded = await collect(blobsBeyond(fx.store, changed, [base], (d) => skipped.push(d)));
    // The new root, the new d3 and the new file.
    expect(yielded).toHaveLength(3);
    expect(hashes(yielded)).toEqual(expect.arrayContaining([changed.hash, blob('changed').hash]));
    // d3's seven unchanged files and the seven unchanged sibling subtrees (d0..d7 but d3, deep).
    expect(skipped).toHaveLength(7 + 8);
    writeFileSync(join(src, 'd3', 'f5'), 'base 3/5');
  });

  it('a subtree the base lacks goes whole, each blob once', async () => {
    writeTree(src, { 'new/a': 'same', 'new/b': 'same', 'new/sub/c': 'other' });
    const grown = await fx.store.importDirectory(src);
    const yielded = await collect(blobsBeyond(fx.store, grown, [base]));
    // root, new, new/sub, "same" once, "other".
    expect(yielded).toHaveLength(5);
    expect(new Set(hashes(yielded)).size).toBe(5);
    expect(hashes(yielded)).toEqual(expect.arrayContaining(hashes([blob('same'), blob('other'), grown])));
    rmSync(join(src, 'new'), { recursive: true });
  });

  it('a file that moved to another directory is asked about (matching is by path)', async () => {
    writeFileSync(join(src, 'd0', 'moved'), 'base 7/7');
    const moved = await fx.store.importDirectory(src);
    const yielded = await collect(blobsBeyond(fx.store, moved, [base]));
    expect(hashes(yielded)).toEqual(expect.arrayContaining([blob('base 7/7').hash]));
    rmSync(join(src, 'd0', 'moved'));
  });

  it('a base whose Directory is missing locally skips nothing: the whole tree is yielded', async () => {
    const absent = blob('not a directory we have');
    writeFileSync(join(src, 'd1', 'f1'), 'changed again');
    const changed = await fx.store.importDirectory(src);
    const yielded = await collect(blobsBeyond(fx.store, changed, [absent]));
    expect(hashes(yielded)).toEqual(hashes(await collect(requiredBlobs(fx.store, changed))));
    writeFileSync(join(src, 'd1', 'f1'), 'base 1/1');
  });

  it('several bases: a blob any of them holds at that path is skipped', async () => {
    writeFileSync(join(src, 'd2', 'f2'), 'second generation');
    const second = await fx.store.importDirectory(src);
    writeFileSync(join(src, 'd4', 'f4'), 'third generation');
    const third = await fx.store.importDirectory(src);
    const yielded = await collect(blobsBeyond(fx.store, third, [base, second]));
    // Only d4 changed against `second`: root, d4 and its new file.
    expect(yielded).toHaveLength(3);
    expect(hashes(yielded)).toContain(blob('third generation').hash);
  });
});

describe('DigestSample', () => {
  it('keeps every digest up to its size, then a uniform sample of that size', () => {
    const sample = new DigestSample(4);
    const all = Array.from({ length: 1000 }, (_, i) => blob(String(i)));
    all.slice(0, 3).forEach((d) => sample.offer(d));
    expect(sample.digests).toEqual(all.slice(0, 3));
    all.slice(3).forEach((d) => sample.offer(d));
    expect(sample.count).toBe(1000);
    expect(sample.digests).toHaveLength(4);
    expect(new Set(sample.digests.map((d) => d.hash)).size).toBe(4);
  });
});

describe('pushDirectory with trees the remote vouched for', () => {
  let fx: StoreFixture;
  let remoteCasd: TestCasd;
  let remote: Remote;
  let src: string;
  let pushed: Digest;

  beforeAll(async () => {
    [fx, remoteCasd] = await Promise.all([startStore(), startTestCasd({ tcp: true })]);
    remote = await Remote.register(fx.connection, { url: remoteCasd.url as string }, { store: fx.store });
    src = writeTree(join(fx.scratch(), 'src'), layout('pushed'));
    pushed = await fx.store.importDirectory(src);
    await remote.pushDirectory(pushed);
  });
  afterAll(async () => {
    await remote?.close();
    await Promise.all([fx?.stop(), remoteCasd?.stop()]);
  });

  it('asks only about what changed (and a sample), and leaves the remote with the whole tree', async () => {
    writeFileSync(join(src, 'd5', 'f1'), 'edited');
    const edited = await fx.store.importDirectory(src);
    const result = await remote.pushDirectory(edited, { presentTrees: [pushed] });
    // root, d5, the new file; the sample adds its own (separate) question.
    expect(result.blobsChecked).toBe(3);
    expect(result.blobsUploaded).toBe(3);
    expect(result.blobsSkipped).toBe(7 + 8);
    expect(await remote.remoteMissingBlobs(requiredBlobs(fx.store, edited))).toEqual([]);
  });

  it('a vouched tree the remote does not hold fails the spot check: every blob is asked about', async () => {
    // A tree only the local cache has, passed off as vouched for.
    const dir = writeTree(join(fx.scratch(), 'lying'), layout('local only'));
    const lying = await fx.store.importDirectory(dir);
    writeFileSync(join(dir, 'd0', 'f0'), 'one change');
    const next = await fx.store.importDirectory(dir);
    const all = await collect(requiredBlobs(fx.store, next));
    const result = await remote.pushDirectory(next, { presentTrees: [lying] });
    expect(result.blobsChecked).toBe(all.length);
    expect(result.blobsSkipped).toBe(0);
    expect(result.blobsUploaded).toBe(all.length);
    expect(await remote.remoteMissingBlobs(all)).toEqual([]);
  });

  it('a blob the remote lost from a vouched tree is caught when the sample holds it', async () => {
    // With fewer skipped blobs than the sample size, every skipped blob is in the sample.
    writeFileSync(join(src, 'd6', 'f6'), 'before loss');
    writeFileSync(join(src, 'd6', 'extra'), 'sent by another job');
    const before = await fx.store.importDirectory(src);
    // Written straight to the remote, as another job would have (casd does not send again
    // what it sent itself this session: upload() checks that case on its own).
    const absent = await remote.remoteMissingBlobs(requiredBlobs(fx.store, before));
    const { blobs } = await remote.local.readBlobs(absent);
    await remote.direct.writeBlobs(absent.map((digest) => ({ digest, data: blobs.get(digest.hash)! })));
    const lost = blob('sent by another job');
    rmSync(objectFile(remoteCasd.cacheDir, lost));
    expect(await remote.remoteMissingBlobs([lost])).toEqual([lost]);
    writeFileSync(join(src, 'd6', 'f6'), 'after loss');
    const after = await fx.store.importDirectory(src);
    const result = await remote.pushDirectory(after, { presentTrees: [before] });
    expect(result.blobsSkipped).toBe(0);
    expect(await remote.remoteMissingBlobs(requiredBlobs(fx.store, after))).toEqual([]);
  });

  it('a blob casd sent this session and the remote lost since is sent again', async () => {
    writeFileSync(join(src, 'd7', 'f7'), 'sent by casd, then lost');
    const tree = await fx.store.importDirectory(src);
    await remote.pushDirectory(tree);
    const lost = blob('sent by casd, then lost');
    rmSync(objectFile(remoteCasd.cacheDir, lost));
    const result = await remote.pushDirectory(tree);
    expect(result.blobsMissing).toBe(1);
    expect(await remote.remoteMissingBlobs([lost])).toEqual([]);
  });
});
