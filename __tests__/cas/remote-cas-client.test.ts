import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CasClient } from '../../src/cas/remote/cas-client.js';
import { UPLOAD_BATCH_BYTES } from '../../src/cas/options.js';
import { readResourceName, writeResourceName } from '../../src/cas/remote/remote-bytestream.js';
import { type Digest, EMPTY_DIGEST, digestOfBuffer, formatDigest } from '../../src/cas/digest.js';
import { Connection } from '../../src/grpc/connection.js';
import type { Logger } from '../../src/logger.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { type LimitedRemote, startLimitedRemote } from '../helpers/limited-remote.js';
import { captureDirectory, readObject } from './remote-helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function blob(size: number): { digest: Digest; data: Buffer } {
  const data = randomBytes(size);
  return { digest: digestOfBuffer(data), data };
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (m: string): void => void lines.push(m);
  return { lines, debug: push, info: push, warning: push, error: push };
}

describe('CasClient against a strict server (1 MiB batches, no GetTree)', () => {
  let casd: TestCasd;
  let limited: LimitedRemote;
  let connection: Connection;
  let client: CasClient;
  let work: string;

  beforeAll(async () => {
    casd = await startTestCasd();
    limited = await startLimitedRemote(casd.socket);
    connection = new Connection(limited.url);
    client = new CasClient(connection);
    work = await mkdtemp(join(tmpdir(), 'cas-client-'));
  });
  afterAll(async () => {
    connection?.close();
    await limited?.stop();
    await casd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });
  beforeEach(() => limited.resetCounters());

  it('reads the batch limit from the capabilities', async () => {
    expect(await client.maxBatchBytes()).toBe(MiB);
  });

  it('writes and reads back small and big blobs, never sending a batch over 1 MiB', async () => {
    const blobs = [...Array.from({ length: 40 }, () => blob(100 * KiB)), blob(3 * MiB), blob(MiB)];
    await client.writeBlobs(blobs);
    expect(limited.counters.rejectedBatches).toBe(0);
    expect(limited.counters.largestBatchBytes).toBeLessThanOrEqual(MiB);
    expect(limited.counters.byteStreamWrites).toBe(2);
    const read = await client.readBlobs(blobs.map((b) => b.digest));
    expect(read.missing).toEqual([]);
    for (const b of blobs) expect(read.blobs.get(b.digest.hash)?.equals(b.data)).toBe(true);
    expect(limited.counters.byteStreamReads).toBe(2);
    expect(limited.counters.rejectedBatches).toBe(0);
    expect((await readObject(casd.cacheDir, blobs[40].digest)).equals(blobs[40].data)).toBe(true);
  });

  it('lists blobs the server does not hold as missing when reading', async () => {
    const present = blob(10);
    await client.writeBlobs([present]);
    const absentSmall = blob(20).digest;
    const absentBig = blob(2 * MiB).digest;
    const read = await client.readBlobs([present.digest, absentSmall, absentBig]);
    expect(read.blobs.get(present.digest.hash)).toEqual(present.data);
    expect(read.missing.map((d) => d.hash).sort()).toEqual([absentSmall.hash, absentBig.hash].sort());
  });

  it('finds missing blobs in de-duplicated groups of at most 512, never asking for the empty blob', async () => {
    const present = blob(50);
    await client.writeBlobs([present]);
    limited.resetCounters();
    const absent = Array.from({ length: 1100 }, () => blob(8).digest);
    const asked = [present.digest, present.digest, EMPTY_DIGEST, ...absent, ...absent.slice(0, 100)];
    const missing = await client.findMissingBlobs(asked);
    expect(missing.map((d) => d.hash).sort()).toEqual(absent.map((d) => d.hash).sort());
    // 1101 unique non-empty digests -> 3 groups.
    expect(limited.counters.findMissingBlobs).toBe(3);
  });

  it('never calls the server when only the empty blob is asked about', async () => {
    expect(await client.findMissingBlobs([EMPTY_DIGEST, EMPTY_DIGEST])).toEqual([]);
    expect(limited.counters.findMissingBlobs).toBe(0);
  });

  it('accepts an async iterable of digests', async () => {
    const absent = Array.from({ length: 600 }, () => blob(8).digest);
    async function* source(): AsyncGenerator<Digest> {
      yield* absent;
    }
    expect((await client.findMissingBlobs(source())).length).toBe(600);
  });

  it('streams a file bigger than a batch with ByteStream and reads it back into a file', async () => {
    const data = randomBytes(5 * MiB + 123);
    const digest = digestOfBuffer(data);
    const source = join(work, 'big.bin');
    await writeFile(source, data);
    await client.writeFile(digest, source);
    expect(limited.counters.byteStreamWrites).toBe(1);
    expect(limited.counters.bytesReceived).toBe(data.byteLength);
    const target = join(work, 'big.out');
    await client.readBlobToFile(digest, target);
    expect((await readFile(target)).equals(data)).toBe(true);
  });

  it('refuses to upload a file whose content does not match the digest, naming the file', async () => {
    const path = join(work, 'changed.bin');
    await writeFile(path, 'other content');
    const claimed = digestOfBuffer(Buffer.from('original content'));
    await expect(client.writeFile(claimed, path)).rejects.toThrow(
      `file ${path} does not match digest ${formatDigest(claimed)}`,
    );
  });

  it('walks a tree level by level when the server has no GetTree', async () => {
    const dir = join(work, 'tree');
    await mkdir(join(dir, 'a', 'b'), { recursive: true });
    await writeFile(join(dir, 'top.txt'), 'top');
    await writeFile(join(dir, 'a', 'mid.txt'), 'mid');
    await writeFile(join(dir, 'a', 'b', 'leaf.txt'), 'leaf');
    const local = casd.connect();
    try {
      const root = await captureDirectory(local, dir);
      limited.resetCounters();
      const directories = await client.getTree(root);
      expect(directories.map((d) => d.digest.hash)[0]).toBe(root.hash);
      expect(directories).toHaveLength(3);
      expect(limited.counters.getTreeCalls).toBe(1);
      expect(limited.counters.batchReadCalls).toBe(3);
      // GetTree on casd itself gives the same directories.
      const direct = await new CasClient(local).getTree(root);
      expect(direct.map((d) => formatDigest(d.digest))).toEqual(
        directories.map((d) => formatDigest(d.digest)),
      );
    } finally {
      local.close();
    }
  });

  it('says which tree and directory are missing when the root is absent', async () => {
    const root = blob(30).digest;
    await expect(client.getTree(root)).rejects.toThrow(`Directory ${formatDigest(root)} of tree`);
  });
});

describe('CasClient batch limits', () => {
  let casd: TestCasd;
  let limited: LimitedRemote;

  beforeAll(async () => {
    casd = await startTestCasd();
    // Advertises nothing (so the client assumes 4 MiB) but enforces 1 MiB.
    limited = await startLimitedRemote(casd.socket, { advertisedBatchBytes: 0, enforcedBatchBytes: MiB });
  });
  afterAll(async () => {
    await limited?.stop();
    await casd?.stop();
  });

  it('falls back to 1 MiB batches when the server rejects a bigger one', async () => {
    const connection = new Connection(limited.url);
    const logger = recordingLogger();
    try {
      const client = new CasClient(connection, '', { logger });
      expect(await client.maxBatchBytes()).toBe(4 * MiB);
      const blobs = Array.from({ length: 12 }, () => blob(300 * KiB));
      await client.writeBlobs(blobs);
      expect(limited.counters.rejectedBatches).toBeGreaterThanOrEqual(1);
      expect(await client.maxBatchBytes()).toBe(MiB);
      expect(logger.lines.join('\n')).toContain('retrying with batches of at most 1048576 bytes');
      const read = await client.readBlobs(blobs.map((b) => b.digest));
      expect(read.missing).toEqual([]);
      expect(read.blobs.size).toBe(12);
    } finally {
      connection.close();
    }
  });
});

describe('CasClient upload batches', () => {
  let casd: TestCasd;
  let limited: LimitedRemote;

  beforeAll(async () => {
    casd = await startTestCasd();
    limited = await startLimitedRemote(casd.socket, {
      advertisedBatchBytes: 8 * MiB,
      enforcedBatchBytes: 8 * MiB,
    });
  });
  afterAll(async () => {
    await limited?.stop();
    await casd?.stop();
  });

  it('sends batches of at most UPLOAD_BATCH_BYTES to a server that takes more, and reads in its batches', async () => {
    const connection = new Connection(limited.url);
    try {
      const client = new CasClient(connection);
      expect(await client.maxBatchBytes()).toBe(8 * MiB);
      const blobs = Array.from({ length: 20 }, () => blob(300 * KiB));
      await client.writeBlobs(blobs);
      // The encoded request: the blobs and a few bytes of framing each.
      expect(limited.counters.largestBatchBytes).toBeGreaterThan(UPLOAD_BATCH_BYTES - 300 * KiB);
      expect(limited.counters.largestBatchBytes).toBeLessThanOrEqual(UPLOAD_BATCH_BYTES + 4 * KiB);
      expect(limited.counters.batchUpdateCalls).toBeGreaterThanOrEqual(3);
      limited.counters.largestBatchBytes = 0;
      const read = await client.readBlobs(blobs.map((b) => b.digest));
      expect(read.blobs.size).toBe(20);
      expect(limited.counters.largestBatchBytes).toBe(20 * 300 * KiB);
    } finally {
      connection.close();
    }
  });
});

describe('CasClient verification', () => {
  let casd: TestCasd;
  let limited: LimitedRemote;
  const small = blob(1000);
  const big = blob(2 * MiB);

  beforeAll(async () => {
    casd = await startTestCasd();
    limited = await startLimitedRemote(casd.socket, {
      corrupt: new Set([small.digest.hash, big.digest.hash]),
    });
    const connection = new Connection(limited.url);
    await new CasClient(connection).writeBlobs([small, big]);
    connection.close();
  });
  afterAll(async () => {
    await limited?.stop();
    await casd?.stop();
  });

  it('rejects wrong bytes from BatchReadBlobs, naming the digest', async () => {
    const connection = new Connection(limited.url);
    try {
      await expect(new CasClient(connection).readBlobs([small.digest])).rejects.toMatchObject({
        reason: 'corrupt-data',
        message: expect.stringContaining(`blob ${formatDigest(small.digest)} received with wrong content`),
      });
    } finally {
      connection.close();
    }
  });

  it('rejects wrong bytes from ByteStream Read, naming the digest', async () => {
    const connection = new Connection(limited.url);
    try {
      await expect(new CasClient(connection).readBlobs([big.digest])).rejects.toMatchObject({
        reason: 'corrupt-data',
        message: expect.stringContaining(`blob ${formatDigest(big.digest)} received with wrong content`),
      });
    } finally {
      connection.close();
    }
  });
});

describe('ByteStream resource names', () => {
  const digest = { hash: 'ab'.repeat(32), sizeBytes: 42 };

  it('omit the instance and its slash when the instance is empty', () => {
    expect(readResourceName('', digest)).toBe(`blobs/${digest.hash}/42`);
    expect(writeResourceName('', digest, '0-0-0-0-1')).toBe(`uploads/0-0-0-0-1/blobs/${digest.hash}/42`);
  });

  it('start with the instance name when there is one', () => {
    expect(readResourceName('main', digest)).toBe(`main/blobs/${digest.hash}/42`);
    expect(writeResourceName('main', digest, '0-0-0-0-1')).toBe(
      `main/uploads/0-0-0-0-1/blobs/${digest.hash}/42`,
    );
  });

  it('use a fresh uuid for each upload', () => {
    expect(writeResourceName('', digest)).not.toBe(writeResourceName('', digest));
  });
});
