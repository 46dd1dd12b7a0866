// An object of the local cache whose bytes no longer match its digest (a write through a hard
// link, a disk fault): every error that finds one names the object as corrupt and says to run
// `casd-action verify`.
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureIncremental } from '../../src/cas/capture/incremental-capture.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer, formatDigest } from '../../src/cas/digest.js';
import { Remote } from '../../src/cas/remote/remote.js';
import { CasStore } from '../../src/cas/store/store.js';
import { CasError } from '../../src/errors.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { handDirectory } from '../cas/tree-fixtures.js';

/** Rewrites an object file in place with other bytes of the same size (casd checks sizes only). */
function tamper(store: CasStore, digest: Digest): Buffer {
  const path = store.objectPath(digest);
  const bytes = Buffer.alloc(digest.sizeBytes, 0x5a);
  chmodSync(path, 0o644);
  writeFileSync(path, bytes);
  return bytes;
}

async function failure(promise: Promise<unknown>): Promise<CasError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, 'expected a failure').toBeInstanceOf(CasError);
  return error as CasError;
}

const HINT = 'run `casd-action verify` to evict damaged objects from the local cache';

describe('a corrupt object in the local cache', () => {
  let local: TestCasd;
  let remoteCasd: TestCasd;
  let store: CasStore;
  let counter = 0;

  beforeAll(async () => {
    [local, remoteCasd] = await Promise.all([startTestCasd(), startTestCasd({ tcp: true })]);
    store = new CasStore({ cacheDir: local.cacheDir, connection: local.connect(), skipUpload: true });
  });
  afterAll(async () => {
    await Promise.all([local?.stop(), remoteCasd?.stop()]);
  });

  function expectNamedCorrupt(error: CasError, digest: Digest, bytes: Buffer): void {
    expect(error.reason).toBe('corrupt-data');
    expect(error.message).toContain(
      `object ${formatDigest(digest)} is corrupt: the local cache's file ${store.objectPath(digest)} ` +
        `holds ${bytes.byteLength} bytes hashing to ${digestOfBuffer(bytes).hash}; ${HINT}`,
    );
  }

  it('reading a damaged Directory names it as corrupt and points at casd-action verify', async () => {
    const digest = await store.putDirectory(
      handDirectory({ symlinks: [{ name: 'l', target: `t${counter++}` }] }),
    );
    const bytes = tamper(store, digest);
    expectNamedCorrupt(await failure(store.readDirectory(digest)), digest, bytes);
  });

  for (const [how, size] of [
    ['BatchUpdateBlobs', 1000],
    ['ByteStream', 5 * 1024 * 1024],
  ] as const) {
    it(`pushing a tree with a damaged file (${how}) fails naming the object as corrupt`, async () => {
      const data = Buffer.alloc(size, counter % 251);
      data.write(`blob-${counter++}-${process.pid}`);
      const file = await store.addObject({ buffer: data });
      const root = await store.putDirectory(handDirectory({ files: [{ name: 'f', digest: file }] }));
      const bytes = tamper(store, file);
      const remote = await Remote.register(local.connect(), { url: remoteCasd.url! }, { store });
      try {
        expectNamedCorrupt(await failure(remote.pushDirectory(root)), file, bytes);
      } finally {
        await remote.close();
      }
    });
  }

  it('pushing a tree whose packed file blob is damaged fails naming the blob, and sends none of it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'casd-corrupt-pack-'));
    const data = Buffer.from(`packed blob ${counter++} ${process.pid}\n`.repeat(50));
    writeFileSync(join(dir, 'f'), data);
    const root = (await captureIncremental(store, dir, { intoPack: true, statCacheDir: `${dir}.stat` })).root;
    store.reloadPacks();
    const file = digestOfBuffer(data);
    // `<data file> (bytes <from>-<to>)`: overwrite the blob's bytes in the pack.
    const [, path, from] = /^(.*) \(bytes (\d+)-\d+\)$/.exec(store.packs.describe(file.hash)) ?? [];
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(data.byteLength, 0x5a), 0, data.byteLength, Number(from));
    closeSync(fd);
    const remote = await Remote.register(local.connect(), { url: remoteCasd.url! }, { store });
    try {
      const error = await failure(remote.pushDirectory(root));
      expect(error.reason).toBe('corrupt-data');
      expect(error.message).toContain(`cannot upload blob ${formatDigest(file)}`);
      expect(error.message).toContain('it is damaged');
      expect(await remote.remoteMissingBlobs([file])).toEqual([file]);
    } finally {
      await remote.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(`${dir}.stat`, { recursive: true, force: true });
    }
  });
});
