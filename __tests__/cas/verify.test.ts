import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer } from '../../src/cas/digest.js';
import { checkObject, verifyStore } from '../../src/cas/store/verify.js';
import { startStore, type StoreFixture, writeTree } from './tree-fixtures.js';

/** Overwrites the object file of `digest` in place, as a write through a hard link does. */
function tamper(fx: StoreFixture, digest: Digest, bytes: string): string {
  const path = fx.store.objectPath(digest);
  chmodSync(path, 0o644);
  writeFileSync(path, bytes);
  chmodSync(path, 0o444);
  return path;
}

describe('verifyStore and checkObject, against a real casd', () => {
  let fx: StoreFixture;
  beforeAll(async () => {
    fx = await startStore();
  });
  afterAll(async () => {
    await fx?.stop();
  });

  let counter = 0;
  /** A blob no other test uses. */
  async function blob(text = 'content'): Promise<Digest> {
    return fx.store.addObject({ buffer: Buffer.from(`${text} ${counter++} ${process.pid}\n`) });
  }

  it('checkObject: a good object is ok, one of the same size with other bytes is corrupt and evicted', async () => {
    const good = await blob();
    expect(await checkObject(fx.store, good)).toEqual({ status: 'ok', bytes: good.sizeBytes });
    const bad = await blob();
    const path = tamper(fx, bad, 'X'.repeat(bad.sizeBytes));
    const check = await checkObject(fx.store, bad, { evict: true });
    expect(check).toEqual({
      status: 'corrupt',
      bytes: bad.sizeBytes,
      actual: digestOfBuffer(Buffer.from('X'.repeat(bad.sizeBytes))),
      path,
      evicted: true,
    });
    expect(existsSync(path)).toBe(false);
    expect(await checkObject(fx.store, bad)).toEqual({ status: 'missing' });
  });

  it('checkObject without evict reports a corrupt object and leaves it', async () => {
    const bad = await blob();
    const path = tamper(fx, bad, 'short');
    expect(await checkObject(fx.store, bad)).toMatchObject({ status: 'corrupt', evicted: false, bytes: 5 });
    expect(readFileSync(path, 'utf8')).toBe('short');
    await checkObject(fx.store, bad, { evict: true });
  });

  it('checkObject streams a file bigger than its read buffer', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const digest = await fx.store.addObject({ buffer: data });
    expect(await checkObject(fx.store, digest)).toEqual({ status: 'ok', bytes: data.byteLength });
  });

  it('every object: evicts the tampered ones, keeps the good ones, counts what it hashed', async () => {
    const good = [await blob('good'), await blob('good')];
    const bad = [await blob('bad'), await blob('bad')];
    tamper(fx, bad[0], 'new');
    tamper(fx, bad[1], 'Y'.repeat(bad[1].sizeBytes));
    const before = await verifyStore(fx.store, { concurrency: 3 });
    const evicted = before.evicted.map((e) => e.hash).sort();
    // Earlier tests of this store evicted theirs already; only these two are left to find.
    expect(evicted).toEqual(bad.map((d) => d.hash).sort());
    // A scan knows only the hash of an object, not the size its digest gives.
    expect(before.evicted.find((e) => e.hash === bad[0].hash)).toEqual({
      hash: bad[0].hash,
      path: fx.store.objectPath(bad[0]),
      actual: digestOfBuffer(Buffer.from('new')),
    });
    for (const digest of bad) expect(existsSync(fx.store.objectPath(digest))).toBe(false);
    for (const digest of good) expect(existsSync(fx.store.objectPath(digest))).toBe(true);
    expect(before.missing).toBe(0);
    const after = await verifyStore(fx.store);
    expect(after.evicted).toEqual([]);
    expect(after.checked).toBe(before.checked - 2);
    expect(after.bytes).toBe(before.bytes - 3 - bad[1].sizeBytes);
  });

  describe('with roots: only what the trees reach', () => {
    let root: Digest;
    let other: Digest;
    let file: (name: string) => Digest;

    beforeAll(async () => {
      const src = writeTree(join(fx.scratch(), 'tree'), {
        'a.txt': 'alpha in the tree\n',
        'sub/b.txt': 'beta in the tree\n',
        'sub/deeper/c.txt': 'gamma in the tree\n',
        'copy.txt': 'alpha in the tree\n',
      });
      root = await fx.store.importDirectory(src);
      other = await blob('outside every tree');
      const digests = new Map<string, Digest>();
      for (const [name, text] of [
        ['a.txt', 'alpha in the tree\n'],
        ['b.txt', 'beta in the tree\n'],
        ['c.txt', 'gamma in the tree\n'],
      ]) {
        digests.set(name, digestOfBuffer(Buffer.from(text)));
      }
      file = (name) => digests.get(name)!;
    });

    it('hashes each reachable object once and leaves damage outside the trees alone', async () => {
      tamper(fx, other, 'damaged but unreachable');
      const result = await verifyStore(fx.store, { roots: [root, root] });
      // 3 distinct files (copy.txt is a.txt's blob), the root, sub, sub/deeper.
      expect(result).toMatchObject({ checked: 6, missing: 0, evicted: [] });
      expect(readFileSync(fx.store.objectPath(other), 'utf8')).toBe('damaged but unreachable');
    });

    it('evicts a damaged file blob, naming it with its size', async () => {
      const b = file('b.txt');
      tamper(fx, b, 'BETA in the tree\n');
      const result = await verifyStore(fx.store, { roots: [root] });
      expect(result.evicted).toEqual([
        {
          hash: b.hash,
          sizeBytes: b.sizeBytes,
          path: fx.store.objectPath(b),
          actual: digestOfBuffer(Buffer.from('BETA in the tree\n')),
        },
      ]);
      expect(result.checked).toBe(6);
      // Gone now: a second pass counts it as missing, not as damage.
      expect(await verifyStore(fx.store, { roots: [root] })).toMatchObject({
        checked: 5,
        missing: 1,
        evicted: [],
      });
    });

    it('evicts a damaged Directory and does not walk below it', async () => {
      const sub = (await fx.store.readDirectory(root)).directories.find((d) => d.name === 'sub')!.digest!;
      tamper(fx, sub, 'not a Directory any more');
      const result = await verifyStore(fx.store, { roots: [root] });
      expect(result.evicted.map((e) => e.hash)).toEqual([sub.hash]);
      // The root, a.txt: sub's blob is gone with everything only it reached.
      expect(result).toMatchObject({ checked: 3, missing: 0 });
      expect(existsSync(fx.store.objectPath(file('c.txt')))).toBe(true);
    });
  });
});
