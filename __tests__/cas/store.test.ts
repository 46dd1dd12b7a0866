import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer, digestOfMessage, formatDigest } from '../../src/cas/digest.js';
import { CasStore } from '../../src/cas/store/store.js';
import { CasError } from '../../src/errors.js';
import { Directory } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { handDirectory, startStore, type StoreFixture, writeTree } from './tree-fixtures.js';

const OLD = new Date('2001-01-01T00:00:00Z');

describe('CasStore against a real casd', () => {
  let fx: StoreFixture;
  beforeAll(async () => {
    fx = await startStore();
  });
  afterAll(async () => {
    await fx?.stop();
  });

  async function importSample(): Promise<{ root: Digest; src: string }> {
    const src = writeTree(join(fx.scratch(), 'src'), {
      'a.txt': 'alpha',
      'sub/b.txt': 'bravo',
      'sub/deeper/c.txt': 'charlie',
    });
    return { root: await fx.store.importDirectory(src), src };
  }

  describe('layout', () => {
    it('creates cas/refs/heads, which casd does not, and accepts the layout', async () => {
      const refs = join(fx.casd.cacheDir, 'cas', 'refs', 'heads');
      rmSync(join(fx.casd.cacheDir, 'cas', 'refs'), { recursive: true, force: true });
      await fx.store.checkLayout();
      expect(statSync(refs).isDirectory()).toBe(true);
    });

    it('rejects a directory that is not a casd cache, naming the missing path', async () => {
      const notCache = fx.scratch();
      const store = new CasStore({ cacheDir: notCache, connection: fx.connection });
      const error = await store.checkLayout().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CasError);
      expect((error as CasError).reason).toBe('cache-layout');
      expect((error as CasError).message).toContain(join(notCache, 'cas', 'objects'));
    });

    it('rejects a cache without cas/tmp, naming it', async () => {
      const cacheDir = fx.scratch();
      mkdirSync(join(cacheDir, 'cas', 'objects'), { recursive: true });
      const store = new CasStore({ cacheDir, connection: fx.connection });
      await expect(store.checkLayout()).rejects.toThrow(join(cacheDir, 'cas', 'tmp'));
    });

    it('places objects at cas/objects/<2 hex>/<62 hex>', () => {
      const digest = digestOfBuffer(Buffer.from('x'));
      const path = fx.store.objectPath(digest);
      expect(relative(fx.casd.cacheDir, path)).toBe(
        join('cas', 'objects', digest.hash.slice(0, 2), digest.hash.slice(2)),
      );
    });

    it('refuses a malformed digest as an object path, naming the hash', () => {
      expect(() => fx.store.objectPath({ hash: '../../etc/passwd', sizeBytes: 1 })).toThrow(
        /hash "\.\.\/\.\.\/etc\/passwd" is not 64 lowercase hexadecimal/,
      );
    });
  });

  describe('adding objects', () => {
    it('adds a buffer and stores exactly its bytes under its digest', async () => {
      const data = Buffer.from('hello from a buffer');
      const digest = await fx.store.addObject({ buffer: data });
      expect(digest).toEqual(digestOfBuffer(data));
      expect(readFileSync(fx.store.objectPath(digest))).toEqual(data);
      expect(await fx.store.containsFile(digest)).toBe(true);
    });

    it('leaves no temporary file behind after adding a buffer', async () => {
      await fx.store.addObject({ buffer: Buffer.from('temporary') });
      const leftovers = (await import('node:fs'))
        .readdirSync(fx.store.tmpDir)
        .filter((n) => n.startsWith('add-'));
      expect(leftovers).toEqual([]);
    });

    it('adds a file by path', async () => {
      const file = join(fx.scratch(), 'f.bin');
      writeFileSync(file, 'file content');
      const digest = await fx.store.addObject({ path: file });
      expect(digest).toEqual(digestOfBuffer(Buffer.from('file content')));
      expect(await fx.store.containsFile(digest)).toBe(true);
    });

    it('adds several files in one call, returning digests in input order', async () => {
      const dir = fx.scratch();
      const names = ['one', 'two', 'three'];
      for (const n of names) writeFileSync(join(dir, n), `content ${n}`);
      const digests = await fx.store.addObjects(names.map((n) => join(dir, n)));
      expect(digests).toEqual(names.map((n) => digestOfBuffer(Buffer.from(`content ${n}`))));
    });

    it('names the path when a file to add does not exist', async () => {
      const missing = join(fx.scratch(), 'no-such-file');
      const error = (await fx.store.addObject({ path: missing }).catch((e: unknown) => e)) as CasError;
      expect(error).toBeInstanceOf(CasError);
      expect(error.message).toContain(`adding ${missing} to the cache failed`);
    });

    it('writes blobs straight into the store: read-only, served by casd, no temporary left', async () => {
      const data = Buffer.from('written by us');
      const digest = digestOfBuffer(data);
      fx.store.writeLocalObjects([{ digest, data }]);
      fx.store.writeLocalObjects([{ digest, data }]); // already there: left alone
      expect(readFileSync(fx.store.objectPath(digest))).toEqual(data);
      expect(statSync(fx.store.objectPath(digest)).mode & 0o222).toBe(0);
      const { CasClient } = await import('../../src/cas/remote/cas-client.js');
      const read = await new CasClient(fx.connection, '').readBlobs([digest]);
      expect(read.blobs.get(digest.hash)).toEqual(data);
      const { readdirSync } = await import('node:fs');
      expect(readdirSync(fx.store.tmpDir).filter((n) => n.startsWith('obj-'))).toEqual([]);
    });

    it('refuses to write a blob whose bytes do not match its digest, writing nothing', () => {
      const digest = digestOfBuffer(Buffer.from('claimed'));
      const error = (() => {
        try {
          fx.store.writeLocalObjects([{ digest, data: Buffer.from('actual') }]);
        } catch (err) {
          return err as CasError;
        }
      })();
      expect(error?.reason).toBe('corrupt-data');
      expect(existsSync(fx.store.objectPath(digest))).toBe(false);
    });

    it('stores a Directory message and reads it back', async () => {
      const file = await fx.store.addObject({ buffer: Buffer.from('leaf') });
      const directory = handDirectory({ files: [{ name: 'leaf.txt', digest: file, isExecutable: true }] });
      const digest = await fx.store.putDirectory(directory);
      expect(digest).toEqual(digestOfMessage(Directory, directory).digest);
      expect(await fx.store.readDirectory(digest)).toEqual(directory);
    });
  });

  describe('importing directories', () => {
    it('returns the root Directory digest of an imported tree', async () => {
      const { root } = await importSample();
      const directory = await fx.store.readDirectory(root);
      expect(directory.files.map((f) => f.name)).toEqual(['a.txt']);
      expect(directory.directories.map((d) => d.name)).toEqual(['sub']);
      expect(await fx.store.containsDirectory(root)).toBe(true);
    });

    it('names the path when the directory to import does not exist', async () => {
      const missing = join(fx.scratch(), 'absent');
      const error = (await fx.store.importDirectory(missing).catch((e: unknown) => e)) as CasError;
      expect(error).toBeInstanceOf(CasError);
      expect(error.message).toContain(`importing directory ${missing} failed`);
    });
  });

  describe('reading Directories', () => {
    it('reports a missing Directory as blob-not-found, naming the digest', async () => {
      const digest = digestOfBuffer(Buffer.from('never stored'));
      const error = (await fx.store.readDirectory(digest).catch((e: unknown) => e)) as CasError;
      expect(error.reason).toBe('blob-not-found');
      expect(error.message).toBe(`Directory ${formatDigest(digest)} is not in the local cache`);
    });

    it('reports a blob that is not a Directory as corrupt-data, naming the digest', async () => {
      const digest = await fx.store.addObject({ buffer: Buffer.from([0xff, 0xff, 0xff, 0xff]) });
      const error = (await fx.store.readDirectory(digest).catch((e: unknown) => e)) as CasError;
      expect(error.reason).toBe('corrupt-data');
      expect(error.message).toContain(`blob ${formatDigest(digest)} is not a Directory message`);
    });

    it('reports an object whose bytes no longer match its digest as corrupt-data', async () => {
      const directory = handDirectory({ symlinks: [{ name: 'l', target: 'somewhere' }] });
      const digest = await fx.store.putDirectory(directory);
      const path = fx.store.objectPath(digest);
      chmodSync(path, 0o644);
      writeFileSync(path, Buffer.alloc(digest.sizeBytes));
      const error = (await fx.store.readDirectory(digest).catch((e: unknown) => e)) as CasError;
      expect(error.reason).toBe('corrupt-data');
      expect(error.message).toContain(`object ${formatDigest(digest)} is corrupt`);
    });
  });

  describe('containment', () => {
    it('says false for a file blob that is absent', async () => {
      expect(await fx.store.containsFile(digestOfBuffer(Buffer.from('absent blob')))).toBe(false);
    });

    it('sees a dangling tree (a file blob deleted) as absent, but present without files', async () => {
      const { root } = await importSample();
      const sub = (await fx.store.readDirectory(root)).directories[0].digest as Digest;
      const deeper = (await fx.store.readDirectory(sub)).directories[0].digest as Digest;
      const charlie = (await fx.store.readDirectory(deeper)).files[0].digest as Digest;
      rmSync(fx.store.objectPath(charlie));
      expect(await fx.store.containsDirectory(root)).toBe(false);
      expect(await fx.store.containsDirectory(root, { withFiles: true })).toBe(false);
      expect(await fx.store.containsDirectory(root, { withFiles: false })).toBe(true);
    });

    it('sees a tree with a missing subdirectory as absent even without files', async () => {
      const src = writeTree(join(fx.scratch(), 'src'), { 'x/y/z.txt': 'zulu', 'top.txt': 'top' });
      const root = await fx.store.importDirectory(src);
      const x = (await fx.store.readDirectory(root)).directories[0].digest as Digest;
      const y = (await fx.store.readDirectory(x)).directories[0].digest as Digest;
      rmSync(fx.store.objectPath(y));
      expect(await fx.store.containsDirectory(root, { withFiles: false })).toBe(false);
    });

    it('touches every object of the tree when asked while checking', async () => {
      const { root } = await importSample();
      const sub = (await fx.store.readDirectory(root)).directories[0].digest as Digest;
      const a = (await fx.store.readDirectory(root)).files[0].digest as Digest;
      for (const d of [root, sub, a]) utimesSync(fx.store.objectPath(d), OLD, OLD);
      expect(await fx.store.containsDirectory(root, { touch: true })).toBe(true);
      for (const d of [root, sub, a]) {
        expect(statSync(fx.store.objectPath(d)).mtimeMs).toBeGreaterThan(OLD.getTime() + 1000);
      }
    });
  });

  describe('local missing blobs', () => {
    it('lists only absent blobs, each once, in first-seen order', async () => {
      const present = await fx.store.addObject({ buffer: Buffer.from('present') });
      const absent1 = digestOfBuffer(Buffer.from('absent one'));
      const absent2 = digestOfBuffer(Buffer.from('absent two'));
      const missing = await fx.store.localMissingBlobs([
        absent2,
        present,
        absent1,
        absent2,
        present,
        absent1,
      ]);
      expect(missing).toEqual([absent2, absent1]);
    });

    it('gives an empty list when everything is present', async () => {
      const present = await fx.store.addObject({ buffer: Buffer.from('present too') });
      expect(await fx.store.localMissingBlobs([present])).toEqual([]);
    });
  });

  describe('touching trees', () => {
    it('updates the mtime of every Directory and file blob reachable from the root', async () => {
      const { root } = await importSample();
      const objects: Digest[] = [];
      const visit = async (d: Digest): Promise<void> => {
        objects.push(d);
        const dir = await fx.store.readDirectory(d);
        for (const f of dir.files) objects.push(f.digest as Digest);
        for (const s of dir.directories) await visit(s.digest as Digest);
      };
      await visit(root);
      expect(objects).toHaveLength(6);
      for (const d of objects) utimesSync(fx.store.objectPath(d), OLD, OLD);
      await fx.store.touchTree(root);
      for (const d of objects) {
        expect(statSync(fx.store.objectPath(d)).mtimeMs).toBeGreaterThan(OLD.getTime() + 1000);
      }
    });

    it('touches what remains of a tree whose subdirectory is gone', async () => {
      const src = writeTree(join(fx.scratch(), 'src'), { 'gone/g.txt': 'golf', 'kept.txt': 'kept' });
      const root = await fx.store.importDirectory(src);
      const dir = await fx.store.readDirectory(root);
      rmSync(fx.store.objectPath(dir.directories[0].digest as Digest));
      const kept = dir.files[0].digest as Digest;
      utimesSync(fx.store.objectPath(kept), OLD, OLD);
      await fx.store.touchTree(root);
      expect(statSync(fx.store.objectPath(kept)).mtimeMs).toBeGreaterThan(OLD.getTime() + 1000);
      expect(existsSync(fx.store.objectPath(root))).toBe(true);
    });
  });
});
