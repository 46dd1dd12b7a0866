// Pack files (one data file and its index) and the local store reading through them: a tree
// checked out of a pack is the tree checked out of casd's objects, file for file.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isCasError } from '../../src/errors.js';
import {
  PACKS_DIR,
  PackFiles,
  PackWriter,
  installPackedBlobs,
  packNames,
  parsePackIndex,
  verifyPack,
  ReadWindow,
  writePack,
} from '../../src/cas/store/pack-files.js';
import { CasStore } from '../../src/cas/store/store.js';
import { PACK_VERIFY_WINDOW_BYTES, PACK_WRITE_BUFFER_BYTES } from '../../src/cas/options.js';
import { checkout } from '../../src/cas/trees/checkout.js';
import { startStore, type StoreFixture } from './tree-fixtures.js';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('pack files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'packs-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function blobs(n: number, size: (i: number) => number): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (let i = 0; i < n; i++) {
      const data = randomBytes(size(i));
      out.set(sha(data), data);
    }
    return out;
  }

  async function pack(name: string, contents: Map<string, Buffer>): Promise<void> {
    const list = [...contents.keys()].sort().map((hash) => ({ hash, size: contents.get(hash)!.byteLength }));
    await writePack(dir, name, list, (hash) => Promise.resolve(contents.get(hash)!));
  }

  it('writes one data file and an index, and reads every blob back by slice', async () => {
    const contents = blobs(50, (i) => i * 37);
    await pack('p', contents);
    expect(packNames(dir)).toEqual(['p']);
    const total = [...contents.values()].reduce((n, b) => n + b.byteLength, 0);
    expect(statSync(join(dir, 'p.pack')).size).toBe(total);
    expect(readFileSync(join(dir, 'p.idx'), 'utf8').split('\n')[0]).toBe('casd-pack 2');
    const packs = new PackFiles(dir);
    try {
      expect(packs.size).toBe(50);
      for (const [hash, data] of contents) expect((await packs.read(hash)).equals(data)).toBe(true);
      expect(await verifyPack(dir, 'p')).toEqual({ blobs: 50, corrupt: [] });
    } finally {
      await packs.close();
    }
  });

  it('writes blobs of every size in any order where its index says, gathered or written alone', async () => {
    // Small blobs are gathered into one write; one above half of PACK_WRITE_BUFFER_BYTES is
    // written alone, also right after small ones, and a streamed file after both.
    const half = PACK_WRITE_BUFFER_BYTES / 2;
    const sizes = [10, half + 1, 300, 20, PACK_WRITE_BUFFER_BYTES, 7, half - 1, half - 1, 3, 2 * half + 5, 1];
    const contents = new Map(sizes.map((size) => randomBytes(size)).map((data) => [sha(data), data]));
    const writer = await PackWriter.create(dir, 'mixed');
    const streamed = join(dir, 'streamed-source');
    writeFileSync(streamed, randomBytes(3 * 1024 + 1));
    let i = 0;
    for (const [hash, data] of contents) {
      await writer.add(hash, data);
      if (++i === 4) await writer.addFile(streamed, Buffer.alloc(1024), () => false);
    }
    await writer.finish();
    expect(await verifyPack(dir, 'mixed')).toEqual({ blobs: contents.size + 1, corrupt: [] });
    const read = new PackFiles(dir, ['mixed']);
    try {
      for (const [hash, data] of contents) expect(await read.read(hash)).toEqual(data);
      expect(await read.read(sha(readFileSync(streamed)))).toEqual(readFileSync(streamed));
    } finally {
      await read.close();
    }
  });

  it('copies a blob to a new file with the mode asked, large ones in pieces, refusing to replace', async () => {
    const big = randomBytes(9 * 1024 * 1024 + 5);
    const small = Buffer.from('#!/bin/sh\n');
    await pack(
      'p',
      new Map([
        [sha(big), big],
        [sha(small), small],
      ]),
    );
    const packs = new PackFiles(dir);
    try {
      await packs.copyTo(sha(big), join(dir, 'big'), 0o644);
      await packs.copyTo(sha(small), join(dir, 'run'), 0o755);
      expect(readFileSync(join(dir, 'big')).equals(big)).toBe(true);
      expect(statSync(join(dir, 'big')).mode & 0o777).toBe(0o644);
      expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o755);
      await expect(packs.copyTo(sha(small), join(dir, 'run'), 0o755)).rejects.toThrow('EEXIST');
    } finally {
      await packs.close();
    }
  });

  it("lists each pack's blobs by name, a blob two packs hold in both, an unreadable pack as empty", async () => {
    const a = blobs(3, (i) => 10 + i);
    const b = new Map([[...a][2], ...blobs(1, () => 20)]); // a's last blob and one of its own
    await pack('a', a);
    await pack('b', b);
    await pack(
      'c',
      blobs(1, () => 99),
    );
    writeFileSync(join(dir, 'c.idx'), 'not a pack index\n');
    const byPack = new PackFiles(dir).hashesByPack();
    expect([...byPack.keys()]).toEqual(['a', 'b', 'c']);
    expect([...byPack.get('a')!].sort()).toEqual([...a.keys()].sort());
    expect([...byPack.get('b')!].sort()).toEqual([...b.keys()].sort());
    expect(byPack.get('c')).toEqual([]);
  });

  it('finds a blob whose bytes were damaged in the data file', async () => {
    const contents = blobs(5, () => 100);
    await pack('p', contents);
    const path = join(dir, 'p.pack');
    const bytes = readFileSync(path);
    bytes[250] ^= 0xff;
    writeFileSync(path, bytes);
    const { corrupt } = await verifyPack(dir, 'p');
    expect(corrupt).toHaveLength(1);
    expect([...contents.keys()].sort()[2]).toBe(corrupt[0]);
  });

  it('checks slices that span its read window, overlap, skip bytes or repeat, and finds damage at a window edge', async () => {
    // Data the index describes out of order: a blob larger than the window, one that starts
    // inside another, a gap nothing lists, and an empty blob.
    const window = PACK_VERIFY_WINDOW_BYTES;
    const data = randomBytes(2 * window + 3000);
    const slice = (offset: number, length: number) => ({
      hash: sha(data.subarray(offset, offset + length)),
      offset,
      length,
    });
    const entries = [
      slice(0, window + 100),
      slice(window - 50, 200),
      slice(window + 1000, 500),
      slice(2 * window - 10, 20),
      slice(2 * window + 2000, 0),
      slice(2 * window + 10, 2990),
    ];
    const index = (list: typeof entries): string =>
      `casd-pack 2\n${[...list]
        .sort((a, b) => (a.hash < b.hash ? -1 : 1))
        .map((e) => `${e.hash} ${e.offset} ${e.length}\n`)
        .join('')}`;
    writeFileSync(join(dir, 'w.pack'), data);
    writeFileSync(join(dir, 'w.idx'), index(entries));
    expect(await verifyPack(dir, 'w')).toEqual({ blobs: entries.length, corrupt: [] });

    // One byte changed just past the first window: the two blobs holding it are corrupt.
    const damaged = Buffer.from(data);
    damaged[window] ^= 0xff;
    writeFileSync(join(dir, 'w.pack'), damaged);
    const { corrupt } = await verifyPack(dir, 'w');
    expect(corrupt.sort()).toEqual([entries[0].hash, entries[1].hash].sort());

    // A data file cut short: the slices past its end no longer parse (the index is checked).
    writeFileSync(join(dir, 'w.pack'), data.subarray(0, window));
    await expect(verifyPack(dir, 'w')).rejects.toThrow('pack index');
  });

  it("reads a pack's next window while the current one is used, and any place on demand", async () => {
    const size = 1024;
    const data = randomBytes(3 * size + 100);
    writeFileSync(join(dir, 'r.pack'), data);
    const handle = await open(join(dir, 'r.pack'), 'r');
    try {
      // The real file's reads, recorded by position.
      const positions: number[] = [];
      const recorded = {
        read: (buffer: Buffer, offset: number, length: number, position: number) => {
          positions.push(position);
          return handle.read(buffer, offset, length, position);
        },
      };
      const window = new ReadWindow(recorded as Pick<FileHandle, 'read'>, size);
      expect(await window.at(0, 30)).toEqual(data.subarray(0, 30));
      // The next window was asked for before this one was used.
      expect(positions).toEqual([0, size]);
      // Inside the window read ahead, a little past its start (a gap no blob lists): no new read but the one after.
      expect(await window.at(size + 5, 2 * size)).toEqual(data.subarray(size + 5, 2 * size));
      expect(positions).toEqual([0, size, 2 * size]);
      // Back to the start: read there (after the read ahead finished with its buffer).
      expect(await window.at(3, 4)).toEqual(data.subarray(3, 7));
      expect(positions).toEqual([0, size, 2 * size, 3, 3 + size]);
      // The last, short window: nothing is read ahead of it.
      expect(await window.at(3 * size + 50, 100)).toEqual(data.subarray(3 * size + 50));
      expect(positions).toEqual([0, size, 2 * size, 3, 3 + size, 3 * size + 50]);
      expect(await window.at(data.length, 1)).toHaveLength(0);
    } finally {
      await handle.close();
    }
  });

  it('refuses an index of another format or with a slice past the data', () => {
    const h = 'a'.repeat(64);
    expect(() => parsePackIndex(`casd-pack 3\n${h} 0 1\n`, 'x.idx', 10)).toThrow(
      'pack index x.idx: first line "casd-pack 3", expected "casd-pack 2"',
    );
    expect(() => parsePackIndex(`casd-pack 2\n${h} 5 6\n`, 'x.idx', 10)).toThrow('pack index x.idx, line 2');
    expect(parsePackIndex(`casd-pack 2\n${h} 4 6\n`, 'x.idx', 10)).toEqual([
      { hash: h, offset: 4, length: 6 },
    ]);
    for (const line of [
      `${h} 0 1 2`,
      `${h} 0`,
      `${h}  1`,
      `${h} -1 2`,
      `${h} 1e0 2`,
      `${h} 0 1\r`,
      `${h.slice(1)} 0 1`,
      `${h.toUpperCase()} 0 1`,
      `${h}0 1`,
      ` ${h} 0 1`,
    ]) {
      expect(() => parsePackIndex(`casd-pack 2\n\n${line}\n`, 'x.idx', 10), line).toThrow(
        'pack index x.idx, line 3',
      );
    }
    // Every line, with or without a final newline, in the order written; empty lines skipped.
    const g = 'b'.repeat(64);
    expect(parsePackIndex(`casd-pack 2\n${g} 0 3\n\n${h} 3 7`, 'x.idx', 10)).toEqual([
      { hash: g, offset: 0, length: 3 },
      { hash: h, offset: 3, length: 7 },
    ]);
    expect(parsePackIndex('casd-pack 2', 'x.idx', 0)).toEqual([]);
  });

  it('leaves no pack behind when a blob cannot be read while writing', async () => {
    const list = [{ hash: 'b'.repeat(64), size: 3 }];
    await expect(writePack(dir, 'p', list, () => Promise.resolve(Buffer.from('four')))).rejects.toThrow(
      'has 4 bytes, 3 expected',
    );
    expect(packNames(dir)).toEqual([]);
    expect(existsSync(join(dir, 'p.pack'))).toBe(false);
  });

  it('installs packed blobs as casd objects (0444), except those asked to stay packed', async () => {
    const contents = blobs(6, () => 64);
    await pack('p', contents);
    const objects = join(dir, 'objects');
    const packs = new PackFiles(dir);
    const [kept, ...rest] = [...contents.keys()];
    try {
      expect(await installPackedBlobs(packs, objects, join(dir, 'tmp'), new Set([kept]))).toEqual({
        installed: 5,
        bytes: 5 * 64,
      });
    } finally {
      await packs.close();
    }
    for (const hash of rest) {
      const path = join(objects, hash.slice(0, 2), hash.slice(2));
      expect(readFileSync(path).equals(contents.get(hash)!)).toBe(true);
      expect(statSync(path).mode & 0o777).toBe(0o444);
    }
    expect(existsSync(join(objects, kept.slice(0, 2), kept.slice(2)))).toBe(false);
  });
});

describe('the local store reading through its packs', () => {
  let fx: StoreFixture;
  beforeAll(async () => {
    fx = await startStore();
  });
  afterAll(async () => {
    await fx?.stop();
  });

  it('checks a tree out of a pack exactly as out of casd objects, and installs it on request', async () => {
    const src = fx.scratch();
    writeFileSync(join(src, 'a.txt'), 'alpha');
    writeFileSync(join(src, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    const root = await fx.store.importDirectory(src);
    const fromObjects = join(fx.scratch(), 'out');
    await checkout(fx.store, root, fromObjects);

    // Move every object of the tree into one pack, as a restore from the Actions cache keeps it.
    const hashes: string[] = [root.hash];
    for (const file of (await fx.store.readDirectory(root)).files) hashes.push(file.digest!.hash);
    const packsDir = join(fx.store.cacheDir, PACKS_DIR);
    const data = new Map(
      hashes.map((h) => [h, readFileSync(fx.store.objectPath({ hash: h, sizeBytes: 0 }))] as const),
    );
    await writePack(
      packsDir,
      'test',
      [...data.keys()].sort().map((hash) => ({ hash, size: data.get(hash)!.byteLength })),
      (hash) => Promise.resolve(data.get(hash)!),
    );
    for (const hash of hashes) rmSync(fx.store.objectPath({ hash, sizeBytes: 0 }), { force: true });

    const store = new CasStore({ cacheDir: fx.store.cacheDir, connection: fx.store.connection });
    try {
      expect(await store.containsDirectory(root)).toBe(true);
      expect(await store.localMissingBlobs(hashes.map((hash) => ({ hash, sizeBytes: 1 })))).toEqual([]);
      const fromPacks = join(fx.scratch(), 'out');
      await checkout(store, root, fromPacks);
      for (const name of ['a.txt', 'tool']) {
        expect(readFileSync(join(fromPacks, name))).toEqual(readFileSync(join(fromObjects, name)));
        expect(statSync(join(fromPacks, name)).mode).toBe(statSync(join(fromObjects, name)).mode);
      }
      // Asked for links (restore-links), blobs only in a pack are copied out of it instead.
      const linked = join(fx.scratch(), 'out');
      const result = await checkout(store, root, linked, { link: true });
      expect(result.linked).toBe(0);
      expect(readFileSync(join(linked, 'a.txt'), 'utf8')).toBe('alpha');
      // Installing with the tree kept packed writes none of it; without, all of it.
      expect((await store.installPacked([root])).installed).toBe(0);
      // Or the hashes a checkout gathered: the Directory kept packed, its two files written.
      expect((await store.installPacked(new Set([root.hash]))).installed).toBe(2);
      expect(existsSync(fx.store.objectPath(root))).toBe(false);
      // Without, the rest (the files are objects already).
      expect((await store.installPacked()).installed).toBe(1);
      expect(existsSync(fx.store.objectPath(root))).toBe(true);
    } finally {
      await store.packs.close();
      rmSync(packsDir, { recursive: true, force: true });
    }
  });

  it('names the pack and the slice of a packed Directory whose bytes were damaged', async () => {
    const src = fx.scratch();
    writeFileSync(join(src, 'a.txt'), 'alpha');
    const root = await fx.store.importDirectory(src);
    const bytes = readFileSync(fx.store.objectPath(root));
    const packsDir = join(fx.store.cacheDir, PACKS_DIR);
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 1] ^= 0xff;
    await writePack(packsDir, 'damaged', [{ hash: root.hash, size: bytes.byteLength }], () =>
      Promise.resolve(damaged),
    );
    rmSync(fx.store.objectPath(root));
    const store = new CasStore({ cacheDir: fx.store.cacheDir, connection: fx.store.connection });
    try {
      const error = await store.readDirectory(root).catch((err: unknown) => err);
      expect(isCasError(error, 'corrupt-data')).toBe(true);
      expect((error as Error).message).toContain(
        `${join(packsDir, 'damaged.pack')} (bytes 0-${bytes.byteLength})`,
      );
    } finally {
      await store.packs.close();
      rmSync(packsDir, { recursive: true, force: true });
    }
  });

  it('says a blob is in no pack when neither holds it', async () => {
    const missing = { hash: 'c'.repeat(64), sizeBytes: 3 };
    const error = await fx.store.readBlob(missing).catch((err: unknown) => err);
    expect(isCasError(error, 'blob-not-found')).toBe(true);
  });
});
