import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout } from '../../src/cas/trees/checkout.js';
import { captureIncremental } from '../../src/cas/capture/incremental-capture.js';
import { CasStore } from '../../src/cas/store/store.js';
import { PACKS_DIR, PackFiles, packNames } from '../../src/cas/store/pack-files.js';
import { PACK_CAPTURE_SLOT_BYTES } from '../../src/cas/options.js';
import { CasError } from '../../src/errors.js';
import { sleep } from '../../src/util/concurrency.js';
import { startStore, type StoreFixture, writeTree } from './tree-fixtures.js';

/** A tree with what casd's capture has to get right: modes, symlinks, empty dirs, odd names. */
function writeSample(root: string): string {
  writeTree(root, {
    'README.md': 'readme',
    'Zeta.txt': 'upper case sorts first',
    'a.txt': 'alpha',
    'bin/run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
    'bin/owner-only': { content: 'x', mode: 0o700 },
    'bin/group-exec': { content: 'g', mode: 0o654 },
    'bin/read-only': { content: 'r', mode: 0o444 },
    'src/lib/deep/one.c': 'int one;',
    'src/lib/deep/two.c': 'int two;',
    'src/lib/empty.h': '',
    'src/main.c': 'int main(){}',
    'src/link-to-main': { symlink: 'main.c' },
    dangling: { symlink: '/nonexistent/target' },
    'dir-link': { symlink: 'src' },
    'empty-dir': { dir: true },
    'nested/empty/again': { dir: true },
    'names/\u00e9t\u00e9.txt': 'accents',
    'names/\uE000-private.txt': 'private use area (sorts after emoji in UTF-16, before it in UTF-8)',
    'names/\u{1F600}-emoji.txt': 'emoji',
    'names/same-content-1': 'dup',
    'names/same-content-2': 'dup',
  });
  execFileSync('mkfifo', [join(root, 'src', 'fifo')]);
  return root;
}

const OLD = new Date('2001-01-01T00:00:00Z');

describe('captureIncremental into a pack (intoPack)', () => {
  let fx: StoreFixture;
  beforeAll(async () => {
    fx = await startStore();
  });
  afterAll(async () => {
    await fx?.stop();
  });

  it("gives CaptureTree's root with every blob in one new pack and no object file, then reuses it all", async () => {
    const statCacheDir = fx.scratch();
    const src = writeSample(join(fx.scratch(), 'tree'));
    const objectsBefore = countObjects(fx.store.objectsDir);
    const result = await captureIncremental(fx.store, src, { statCacheDir, racyWindowMs: 0, intoPack: true });
    expect(result.full).toBe(true);
    expect(countObjects(fx.store.objectsDir)).toBe(objectsBefore);
    const packsDir = join(fx.store.cacheDir, PACKS_DIR);
    expect(packNames(packsDir)).toHaveLength(1);
    expect(await fx.store.containsDirectory(result.root)).toBe(true);

    // Checked out of the pack, the tree is the source's; CaptureTree agrees on the root.
    const out = join(fx.scratch(), 'out');
    await checkout(fx.store, result.root, out);
    for (const name of ['a.txt', 'bin/run.sh', 'src/lib/deep/one.c', 'names/same-content-2']) {
      expect(readFileSync(join(out, name))).toEqual(readFileSync(join(src, name)));
    }
    expect(statSync(join(out, 'bin/run.sh')).mode & 0o777).toBe(0o755);
    const again = await captureIncremental(fx.store, src, { statCacheDir, racyWindowMs: 0, intoPack: true });
    expect(again).toMatchObject({ root: result.root, filesHashed: 0, full: false });
    expect(await fx.store.importDirectory(src)).toEqual(result.root);
  });

  it("packs only what casd lacks, whether it lists casd's few objects or asks for each", async () => {
    // A fresh store: its few objects are listed once (presenceCheck); then one with more objects
    // than the capture has files, asked one by one. Either way casd's blobs stay out of the pack.
    for (const extraObjects of [0, 40]) {
      const own = await startStore();
      const store = own.store;
      for (let i = 0; i < extraObjects; i++) await store.addObject({ buffer: Buffer.from(`extra ${i}`) });
      const src = join(own.scratch(), 'held');
      writeTree(src, {
        'held.txt': 'casd has this one',
        'new.txt': 'and not this one',
        'sub/new2.txt': 'nor this',
      });
      const held = await store.addObject({ path: join(src, 'held.txt') });
      const result = await captureIncremental(store, src, { statCacheDir: own.scratch(), intoPack: true });
      const pack = new PackFiles(join(store.cacheDir, PACKS_DIR));
      expect(pack.has(held.hash), `with ${extraObjects} other objects`).toBe(false);
      expect(pack.size).toBe(2 + 2); // the two new files and the two Directories
      expect(await store.containsDirectory(result.root)).toBe(true);
      await own.stop();
    }
  });

  it("lists casd's objects once when there are fewer than the checks to come, else asks each time", async () => {
    const own = await startStore();
    const store = own.store;
    const first = await store.addObject({ buffer: Buffer.from('first') });
    const listed = store.presenceCheck(10);
    const live = store.presenceCheck(0);
    const later = await store.addObject({ buffer: Buffer.from('later') });
    expect(listed(first)).toBe(true);
    expect(listed(later)).toBe(false); // the list is of its moment: a duplicate later, not a loss
    expect(live(first)).toBe(true);
    expect(live(later)).toBe(true);
    // localMissingBlobs lists them for a list of digests: the same answers as one check each.
    const absent = { hash: 'f'.repeat(64), sizeBytes: 3 };
    expect(await store.localMissingBlobs([first, later, absent, first])).toEqual([absent]);
    await own.stop();
  });

  it('after a change, packs only the changed files and Directories, and writes no object file', async () => {
    const statCacheDir = fx.scratch();
    const src = writeSample(join(fx.scratch(), 'tree'));
    const packsDir = join(fx.store.cacheDir, PACKS_DIR);
    const first = await captureIncremental(fx.store, src, { statCacheDir, racyWindowMs: 0, intoPack: true });
    const packsBefore = new Set(packNames(packsDir));
    writeFileSync(join(src, 'a.txt'), 'changed content of a.txt');
    mkdirSync(join(src, 'added'));
    writeFileSync(join(src, 'added', 'new.txt'), 'a file that is new');
    const objectsBefore = countObjects(fx.store.objectsDir);
    const result = await captureIncremental(fx.store, src, { statCacheDir, racyWindowMs: 0, intoPack: true });
    expect(result).toMatchObject({ filesHashed: 2, full: false });
    expect(result.root).not.toEqual(first.root);
    expect(countObjects(fx.store.objectsDir)).toBe(objectsBefore);
    const added = packNames(packsDir).filter((name) => !packsBefore.has(name));
    expect(added).toHaveLength(1);
    // The two files, the root and the new directory's Directory: nothing the store held.
    expect(new PackFiles(packsDir, added).size).toBe(4);
    expect(await fx.store.containsDirectory(result.root)).toBe(true);
    expect(await fx.store.importDirectory(src)).toEqual(result.root);
    const out = join(fx.scratch(), 'out');
    await checkout(fx.store, result.root, out);
    expect(readFileSync(join(out, 'added', 'new.txt'), 'utf8')).toBe('a file that is new');
  });

  it('streams files larger than its read buffers into the pack once each, with no stray bytes', async () => {
    const slot = PACK_CAPTURE_SLOT_BYTES;
    const big = (seed: number, size: number): Buffer => {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4096) data.writeUInt32LE((seed * 2654435761 + i) >>> 0, i);
      return data;
    };
    const src = join(fx.scratch(), 'big');
    const files: Record<string, Buffer> = {
      'a-exactly-slot': big(1, slot),
      'b-large': big(2, 3 * slot + 17),
      'c-small': Buffer.from('small'),
      'd-large-again': big(2, 3 * slot + 17),
      'e-just-below': big(3, slot - 1),
      'z-large-last-duplicate': big(1, slot),
    };
    mkdirSync(src, { recursive: true });
    for (const [file, data] of Object.entries(files)) writeFileSync(join(src, file), data);
    const packsDir = join(fx.store.cacheDir, PACKS_DIR);
    const before = new Set(packNames(packsDir));
    const result = await captureIncremental(fx.store, src, { statCacheDir: fx.scratch(), intoPack: true });
    expect(await fx.store.importDirectory(src)).toEqual(result.root);
    const [name] = packNames(packsDir).filter((n) => !before.has(n));
    // Four distinct contents (one streamed twice, one at the slot's size read twice, the last
    // file a duplicate) and the root Directory; the data file holds just their bytes.
    const sizes = [...new PackFiles(packsDir, [name]).sizes().values()];
    expect(sizes).toHaveLength(5);
    const bytes = sizes.reduce((n, size) => n + size, 0);
    expect(bytes).toBeGreaterThan(slot + (3 * slot + 17) + (slot - 1) + 'small'.length);
    expect(statSync(join(packsDir, `${name}.pack`)).size).toBe(bytes);
    const out = join(fx.scratch(), 'big-out');
    await checkout(fx.store, result.root, out);
    // Buffer.equals: toEqual compares multi-MB buffers element by element (a minute under load).
    for (const file of readdirSync(src))
      expect(readFileSync(join(out, file)).equals(readFileSync(join(src, file))), file).toBe(true);
  });
});

describe('captureIncremental into a pack, bounded (packMaxBytes)', () => {
  let fx: StoreFixture;
  beforeAll(async () => {
    fx = await startStore();
  });
  afterAll(async () => {
    await fx?.stop();
  });

  it('captures a tree above the bound through casd, as a quota-bound capture would be', async () => {
    const src = writeSample(join(fx.scratch(), 'tree'));
    const result = await captureIncremental(fx.store, src, {
      statCacheDir: fx.scratch(),
      racyWindowMs: 0,
      intoPack: true,
      packMaxBytes: 10,
    });
    expect(packNames(join(fx.store.cacheDir, PACKS_DIR))).toEqual([]);
    expect(result.full).toBe(true);
    expect(await fx.store.importDirectory(src)).toEqual(result.root);
    expect(existsSync(fx.store.objectPath(result.root))).toBe(true);
  });
});

/** Object files in a casd object directory. */
function countObjects(objectsDir: string): number {
  return readdirSync(objectsDir).reduce((n, prefix) => n + readdirSync(join(objectsDir, prefix)).length, 0);
}

describe('captureIncremental against a real casd', () => {
  let fx: StoreFixture;
  let statCacheDir: string;
  beforeAll(async () => {
    fx = await startStore();
    statCacheDir = fx.scratch();
  });
  afterAll(async () => {
    await fx?.stop();
  });

  // Tests reuse digests right away; the racy window (real captures: 1 s) would hash again.
  const settings = () => ({ statCacheDir, racyWindowMs: 0 });

  it('captures from cold with CaptureTree and gives the same root as importDirectory', async () => {
    const src = writeSample(join(fx.scratch(), 'tree'));
    const expected = await fx.store.importDirectory(src);
    const result = await captureIncremental(fx.store, src, settings());
    expect(result.root).toEqual(expected);
    expect(result.full).toBe(true);
    expect(result.filesReused).toBe(0);
    expect(readdirSync(statCacheDir).filter((n) => n.endsWith('.json'))).toHaveLength(1);
  });

  it('rebuilds byte-identical Directory messages from the stat cache and hashes nothing when nothing changed', async () => {
    const src = writeSample(join(fx.scratch(), 'tree'));
    const expected = await fx.store.importDirectory(src);
    const files = (await captureIncremental(fx.store, src, settings())).filesHashed;
    const again = await captureIncremental(fx.store, src, settings());
    expect(again).toEqual({ root: expected, filesHashed: 0, filesReused: files, full: false });
  });

  it('hashes only changed and new files, and matches importDirectory after adds, removals, chmod and new links', async () => {
    const src = writeSample(join(fx.scratch(), 'tree'));
    await sleep(20); // past the files' ctimes, so that none is "racy"
    const first = await captureIncremental(fx.store, src, settings());
    writeFileSync(join(src, 'a.txt'), 'alpha, longer now');
    writeFileSync(join(src, 'src/lib/deep/three.c'), 'int three;');
    unlinkSync(join(src, 'src/lib/deep/one.c'));
    rmSync(join(src, 'nested'), { recursive: true });
    chmodSync(join(src, 'README.md'), 0o755);
    symlinkSync('../a.txt', join(src, 'bin/a-link'));
    mkdirSync(join(src, 'new-empty'));
    const expected = await fx.store.importDirectory(src);
    const result = await captureIncremental(fx.store, src, settings());
    expect(result.root).toEqual(expected);
    expect(result.full).toBe(false);
    // a.txt (content), three.c (new), README.md (mode changes ctime and mode).
    expect(result.filesHashed).toBe(3);
    expect(result.filesReused).toBe(first.filesHashed - 1 - 2);
  });

  it('catches a rewrite with the same size whose mtime was put back (ctime changed)', async () => {
    const src = writeTree(join(fx.scratch(), 'tree'), { 'f.txt': 'AAAA', 'g.txt': 'same' });
    // A whole second, so that putting it back is exact to the nanosecond.
    utimesSync(join(src, 'f.txt'), OLD, OLD);
    const before = statSync(join(src, 'f.txt'), { bigint: true });
    // Let the clock pass the files' ctimes, so that neither is "racy" (re-hashed anyway).
    await sleep(20);
    const first = await captureIncremental(fx.store, src, settings());
    writeFileSync(join(src, 'f.txt'), 'BBBB');
    utimesSync(join(src, 'f.txt'), OLD, OLD);
    const after = statSync(join(src, 'f.txt'), { bigint: true });
    expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);
    const result = await captureIncremental(fx.store, src, settings());
    expect(result.filesHashed).toBe(1);
    expect(result.root).not.toEqual(first.root);
    expect(result.root).toEqual(await fx.store.importDirectory(src));
  });

  it('hashes again files that changed within the racy window of the capture that recorded them', async () => {
    const src = writeTree(join(fx.scratch(), 'tree'), { 'f.txt': 'fresh', 'g.txt': 'also fresh' });
    const options = { statCacheDir, racyWindowMs: 3_600_000 };
    await captureIncremental(fx.store, src, options);
    const again = await captureIncremental(fx.store, src, options);
    expect(again).toMatchObject({ filesHashed: 2, filesReused: 0, full: false });
  });

  it('by default reuses files older than the fine racy window (20 ms) on a filesystem with nanosecond timestamps', async () => {
    const src = writeSample(join(fx.scratch(), 'tree'));
    await sleep(50); // past the files' ctimes by more than the window
    const first = await captureIncremental(fx.store, src, { statCacheDir });
    const again = await captureIncremental(fx.store, src, { statCacheDir });
    expect(again).toMatchObject({ filesHashed: 0, filesReused: first.filesHashed, full: false });
  });

  it('captures again files whose blobs left the local cache, and stores the Directories there', async () => {
    const src = writeSample(join(fx.scratch(), 'tree'));
    const expected = await captureIncremental(fx.store, src, settings());
    // A second casd with an empty store, given the same stat cache: every reused digest is gone.
    const other = await startStore();
    try {
      const store = new CasStore({ cacheDir: other.casd.cacheDir, connection: other.connection });
      const result = await captureIncremental(store, src, settings());
      // Only the empty file's blob is still "there": every store holds the empty blob.
      expect(result).toMatchObject({ root: expected.root, full: false, filesReused: 1 });
      expect(result.filesHashed).toBe(expected.filesHashed - 1);
      expect(await store.containsDirectory(result.root)).toBe(true);
      const dest = join(other.scratch(), 'out');
      await checkout(store, result.root, dest);
      expect(readFileSync(join(dest, 'src/lib/deep/two.c'), 'utf8')).toBe('int two;');
    } finally {
      await other.stop();
    }
  });

  it('falls back to a full capture when the stat cache is corrupted', async () => {
    const src = writeSample(join(fx.scratch(), 'tree'));
    const dir = fx.scratch();
    await captureIncremental(fx.store, src, { statCacheDir: dir, racyWindowMs: 0 });
    const [name] = readdirSync(dir);
    writeFileSync(join(dir, name), readFileSync(join(dir, name), 'utf8').slice(0, 100));
    const result = await captureIncremental(fx.store, src, { statCacheDir: dir, racyWindowMs: 0 });
    expect(result.full).toBe(true);
    expect(result.root).toEqual(await fx.store.importDirectory(src));
    expect((await captureIncremental(fx.store, src, { statCacheDir: dir, racyWindowMs: 0 })).full).toBe(
      false,
    );
  });

  it('falls back to a full capture when the cache file holds another root', async () => {
    const one = writeTree(join(fx.scratch(), 'one'), { 'x.txt': 'one' });
    const two = writeTree(join(fx.scratch(), 'two'), { 'x.txt': 'two' });
    const dir = fx.scratch();
    await captureIncremental(fx.store, one, { statCacheDir: dir });
    const [oneFile] = readdirSync(dir);
    await captureIncremental(fx.store, two, { statCacheDir: dir });
    const twoFile = readdirSync(dir).find((n) => n !== oneFile) as string;
    writeFileSync(join(dir, twoFile), readFileSync(join(dir, oneFile)));
    const result = await captureIncremental(fx.store, two, { statCacheDir: dir, racyWindowMs: 0 });
    expect(result.full).toBe(true);
    expect(result.root).toEqual(await fx.store.importDirectory(two));
  });

  it('captures trees with names that are not UTF-8 through CaptureTree', async () => {
    const src = writeTree(join(fx.scratch(), 'tree'), { 'ok.txt': 'ok' });
    writeFileSync(Buffer.concat([Buffer.from(`${src}/bad-`), Buffer.from([0xff, 0xfe])]), 'latin-1 name');
    const result = await captureIncremental(fx.store, src, settings());
    expect(result.full).toBe(true);
    expect(result.root).toEqual(await fx.store.importDirectory(src));
  });

  it('names the path when the directory does not exist', async () => {
    const missing = join(fx.scratch(), 'absent');
    const error = (await captureIncremental(fx.store, missing, settings()).catch(
      (e: unknown) => e,
    )) as CasError;
    expect(error).toBeInstanceOf(CasError);
    expect(error.message).toContain(`importing directory ${missing} failed`);
  });
});
