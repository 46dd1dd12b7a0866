import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer, formatDigest } from '../../src/cas/digest.js';
import { Remote } from '../../src/cas/remote/remote.js';
import { CasStore } from '../../src/cas/store/store.js';
import type { Connection } from '../../src/grpc/connection.js';
import { mapLimit } from '../../src/util/concurrency.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { startLimitedRemote } from '../helpers/limited-remote.js';
import { hasZstd } from '../helpers/zstd.js';
import { captureIncremental } from '../../src/cas/capture/incremental-capture.js';
import { makeTestCertificates } from '../helpers/tls.js';
import { captureDirectory, countObjects, objectFile, readObject } from './remote-helpers.js';

const DIRS = 100;
const FILES_PER_DIR = 100;

/** Writes DIRS x FILES_PER_DIR small files with unique contents; returns content by path. */
async function writeTree(root: string, salt: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (let d = 0; d < DIRS; d++) {
    await mkdir(join(root, `dir${d}`), { recursive: true });
    for (let f = 0; f < FILES_PER_DIR; f++) {
      files.set(join(`dir${d}`, `file${f}.txt`), Buffer.from(`${salt} file ${d}/${f}\n`));
    }
  }
  await mapLimit(files, 64, ([path, data]) => writeFile(join(root, path), data));
  return files;
}

describe('Remote: local casd -> remote casd over TCP', () => {
  let remoteCasd: TestCasd;
  let localCasd: TestCasd;
  let local: Connection;
  let remote: Remote;
  let store: CasStore;
  let work: string;
  let files: Map<string, Buffer>;
  let firstRoot: Digest;
  let secondRoot: Digest;

  beforeAll(async () => {
    [remoteCasd, localCasd] = await Promise.all([startTestCasd({ tcp: true }), startTestCasd()]);
    local = localCasd.connect();
    store = new CasStore({ cacheDir: localCasd.cacheDir, connection: local });
    remote = await Remote.register(local, { url: remoteCasd.url as string }, { store });
    work = await mkdtemp(join(tmpdir(), 'remote-test-'));
    files = await writeTree(join(work, 'src'), randomBytes(8).toString('hex'));
    firstRoot = await store.importDirectory(join(work, 'src'));
  });
  afterAll(async () => {
    await remote?.close();
    local?.close();
    await Promise.all([remoteCasd?.stop(), localCasd?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes a 10,000-file tree: every file and directory the remote lacked', async () => {
    const before = await countObjects(remoteCasd.cacheDir);
    const result = await remote.pushDirectory(firstRoot);
    // 10,000 unique files, 100 directories and the root.
    expect(result.blobsMissing).toBe(DIRS * FILES_PER_DIR + DIRS + 1);
    expect(result.blobsUploaded).toBe(result.blobsMissing);
    expect((await countObjects(remoteCasd.cacheDir)) - before).toBe(result.blobsUploaded);
    expect(await remote.remoteMissingBlobs([firstRoot])).toEqual([]);
  });

  it('after changing 1% of the files, a second push sends only the changed blobs', async () => {
    const changed = [...files.keys()].filter((_, i) => i % 100 === 7);
    expect(changed).toHaveLength(100);
    for (const path of changed) {
      const data = Buffer.from(`changed ${path}\n`);
      files.set(path, data);
      await writeFile(join(work, 'src', path), data);
    }
    secondRoot = await store.importDirectory(join(work, 'src'));
    const before = await countObjects(remoteCasd.cacheDir);
    let reportedBlobs = 0;
    let reportedBytes = 0;
    const result = await remote.pushDirectory(secondRoot, {
      onUploaded: (blobs, bytes) => {
        reportedBlobs += blobs;
        reportedBytes += bytes;
      },
    });
    expect([reportedBlobs, reportedBytes]).toEqual([result.blobsUploaded, result.bytesUploaded]);
    // 100 new file blobs, the 100 directories holding them, and the new root.
    expect(result.blobsUploaded).toBe(100 + DIRS + 1);
    expect((await countObjects(remoteCasd.cacheDir)) - before).toBe(result.blobsUploaded);
    const changedBytes = changed.reduce((sum, path) => sum + (files.get(path) as Buffer).byteLength, 0);
    expect(result.bytesUploaded).toBeGreaterThan(changedBytes);
  });

  it('pushes a tree captured into a pack straight from the pack, and zstd to a server that takes it', async () => {
    // Nothing of it is an object file casd could upload: the capture wrote one pack.
    const packed = await writeTree(join(work, 'packed'), randomBytes(8).toString('hex'));
    const capture = await captureIncremental(store, join(work, 'packed'), {
      statCacheDir: join(work, 'stat-packed'),
      intoPack: true,
    });
    store.reloadPacks();
    const digests = [...packed.values()].map(digestOfBuffer);
    expect(digests.some((d) => existsSync(store.objectPath(d)))).toBe(false);
    const result = await remote.pushDirectory(capture.root);
    expect(result.blobsUploaded).toBe(DIRS * FILES_PER_DIR + DIRS + 1);
    expect(await remote.remoteMissingBlobs([capture.root, ...digests])).toEqual([]);
    await mapLimit(packed, 64, async ([path, data]) => {
      if (!(await readObject(remoteCasd.cacheDir, digestOfBuffer(data))).equals(data))
        throw new Error(`${path} differs`);
    });
    if (!hasZstd) return;
    // The same through a server that takes zstd: the big blobs travel compressed.
    const zstdRemote = await startLimitedRemote(remoteCasd.url as string, { zstd: true });
    const other = await startTestCasd();
    const big = join(work, 'packed-big');
    await mkdir(big);
    await writeFile(
      join(big, 'a.txt'),
      Buffer.alloc(3 * 1024 * 1024, `zstd ${randomBytes(4).toString('hex')} line\n`),
    );
    const otherConnection = other.connect();
    const otherStore = new CasStore({ cacheDir: other.cacheDir, connection: otherConnection });
    const pusher = await Remote.register(otherConnection, { url: zstdRemote.url }, { store: otherStore });
    try {
      const root = (
        await captureIncremental(otherStore, big, { statCacheDir: join(work, 'stat-big'), intoPack: true })
      ).root;
      otherStore.reloadPacks();
      await pusher.pushDirectory(root);
      expect(zstdRemote.counters.zstdBlobsReceived).toBeGreaterThanOrEqual(1);
      expect(zstdRemote.counters.bytesReceived).toBeLessThan(1024 * 1024);
      expect(await remote.remoteMissingBlobs([root])).toEqual([]);
    } finally {
      await pusher.close();
      otherConnection.close();
      await other.stop();
      await zstdRemote.stop();
    }
  });

  it('pulls the tree into an empty cache with identical files', async () => {
    const empty = await startTestCasd();
    const connection = empty.connect();
    const puller = await Remote.register(connection, { url: remoteCasd.url as string, readOnly: true });
    try {
      expect(await puller.pullTree(secondRoot)).toBe(true);
      await mapLimit(files, 64, async ([path, data]) => {
        const stored = await readObject(empty.cacheDir, digestOfBuffer(data));
        if (!stored.equals(data)) throw new Error(`${path} differs after pull`);
      });
      expect(await puller.local.findMissingBlobs([secondRoot])).toEqual([]);
    } finally {
      await puller.close();
      connection.close();
      await empty.stop();
    }
  });

  it('fetchDirectory stores every Directory of the tree but no file', async () => {
    const empty = await startTestCasd();
    const connection = empty.connect();
    const puller = await Remote.register(connection, { url: remoteCasd.url as string });
    try {
      const directories = await puller.fetchDirectory(firstRoot);
      expect(directories).toHaveLength(DIRS + 1);
      expect(directories[0].digest).toEqual(firstRoot);
      expect(await puller.local.findMissingBlobs(directories.map((d) => d.digest))).toEqual([]);
      const fileDigests = [...files.values()].map(digestOfBuffer);
      expect(await puller.local.findMissingBlobs(fileDigests)).toHaveLength(fileDigests.length);
    } finally {
      await puller.close();
      connection.close();
      await empty.stop();
    }
  });

  it('fetchBlobs stores blobs locally and reports those the remote lacks', async () => {
    const present = [...files.values()].slice(0, 3).map(digestOfBuffer);
    const absent = digestOfBuffer(randomBytes(40));
    const empty = await startTestCasd();
    const connection = empty.connect();
    const puller = await Remote.register(connection, { url: remoteCasd.url as string });
    try {
      const { missing } = await puller.fetchBlobs([...present, absent]);
      expect(missing).toEqual([absent]);
      for (const digest of present) await stat(objectFile(empty.cacheDir, digest));
    } finally {
      await puller.close();
      connection.close();
      await empty.stop();
    }
  });

  it('sendBlobs uploads only blobs the remote lacks and reports blobs the local cache lacks', async () => {
    const dir = join(work, 'send');
    await mkdir(dir);
    await writeFile(join(dir, 'new.txt'), randomBytes(64));
    const root = await captureDirectory(local, dir);
    const [directory] = await remote.local.getTree(root);
    const fileDigest = directory.directory.files[0].digest as Digest;
    const alreadyThere = digestOfBuffer([...files.values()][0]);
    const localLacks = digestOfBuffer(randomBytes(50));
    const before = await countObjects(remoteCasd.cacheDir);
    const { missing } = await remote.sendBlobs([fileDigest, alreadyThere, localLacks]);
    expect(missing).toEqual([localLacks]);
    expect((await countObjects(remoteCasd.cacheDir)) - before).toBe(1);
    expect((await readObject(remoteCasd.cacheDir, fileDigest)).byteLength).toBe(64);
  });

  it('pullTree answers false for a tree the remote does not hold', async () => {
    expect(await remote.pullTree(digestOfBuffer(randomBytes(16)))).toBe(false);
  });

  it('fetchTree names the tree the remote does not hold', async () => {
    const root = digestOfBuffer(randomBytes(16));
    await expect(remote.fetchTree(root)).rejects.toThrow(
      `tree ${formatDigest(root)} is not on remote ${remoteCasd.url}`,
    );
  });

  it('refuses to push to a read-only remote, naming it', async () => {
    const readOnly = await Remote.register(local, { url: remoteCasd.url as string, readOnly: true });
    try {
      await expect(readOnly.pushDirectory(firstRoot)).rejects.toThrow(
        `cannot push a directory: remote ${remoteCasd.url} is configured read-only`,
      );
    } finally {
      await readOnly.close();
    }
  });
});

describe('Remote.register', () => {
  let localCasd: TestCasd;
  let local: Connection;

  beforeAll(async () => {
    localCasd = await startTestCasd();
    local = localCasd.connect();
  });
  afterAll(async () => {
    local?.close();
    await localCasd?.stop();
  });

  it('rejects a url in no accepted form, quoting it', async () => {
    await expect(Remote.register(local, { url: 'ftp://cache.example:21' })).rejects.toThrow(
      'endpoint "ftp://cache.example:21" has unknown scheme "ftp"',
    );
  });

  it('refuses a token on a plaintext remote, saying TLS is needed', async () => {
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'casd-token-')), 'token');
    writeFileSync(tokenFile, 'secret', { mode: 0o600 });
    await expect(Remote.register(local, { url: 'grpc://127.0.0.1:1', tokenFile })).rejects.toThrow(
      'remote grpc://127.0.0.1:1: a token can only be sent over TLS; use grpcs:// or https://',
    );
  });

  it('sends the token of a token file over TLS, through casd and directly', async () => {
    const certs = makeTestCertificates();
    const remoteCasd = await startTestCasd();
    const server = await startLimitedRemote(remoteCasd.socket, {
      tls: { cert: certs.serverCert, key: certs.serverKey },
      token: 'secret-token',
    });
    try {
      const tokenDir = mkdtempSync(join(tmpdir(), 'casd-token-'));
      const tokenFile = join(tokenDir, 'token');
      writeFileSync(tokenFile, 'secret-token\n', { mode: 0o600 });
      const remote = await Remote.register(local, { url: server.url, serverCert: certs.caCert, tokenFile });
      const data = randomBytes(100);
      const digest = digestOfBuffer(data);
      await remote.local.writeBlobs([{ digest, data }]);
      expect(await remote.remoteMissingBlobs([digest])).toEqual([digest]);
      expect(await remote.sendBlobs([digest])).toEqual({ missing: [] });
      expect(await remote.remoteMissingBlobs([digest])).toEqual([]);
      expect(server.counters.unauthenticated).toBe(0);
      await remote.close();
      // The token file is the caller's: close() leaves it.
      expect(readFileSync(tokenFile, 'utf8')).toBe('secret-token\n');
      rmSync(tokenDir, { recursive: true, force: true });
    } finally {
      await server.stop();
      await remoteCasd.stop();
      certs.remove();
    }
  });
});
