import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer } from '../../src/cas/digest.js';
import { Remote } from '../../src/cas/remote.js';
import type { Connection } from '../../src/grpc/connection.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { type LimitedRemote, startLimitedRemote } from '../helpers/limited-remote.js';
import { captureDirectory, readObject } from './remote-helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('Remote against a strict server (1 MiB batches, no GetTree, no Remote Asset)', () => {
  let backing: TestCasd;
  let limited: LimitedRemote;
  let localCasd: TestCasd;
  let local: Connection;
  let remote: Remote;
  let work: string;
  const files = new Map<string, Buffer>();
  let root: Digest;

  beforeAll(async () => {
    [backing, localCasd] = await Promise.all([startTestCasd(), startTestCasd()]);
    limited = await startLimitedRemote(backing.socket);
    local = localCasd.connect();
    remote = await Remote.register(local, { url: limited.url });
    work = await mkdtemp(join(tmpdir(), 'remote-limited-'));
    for (let i = 0; i < 300; i++) files.set(join(`d${i % 7}`, `small${i}`), randomBytes(200));
    // Several blobs that fit a batch alone but not together, and two bigger than any batch.
    for (let i = 0; i < 6; i++) files.set(`medium${i}`, randomBytes(400 * KiB));
    files.set('big', randomBytes(3 * MiB + 17));
    files.set(join('d1', 'exactly-one-mib'), randomBytes(MiB));
    for (const [path, data] of files) {
      await mkdir(join(work, 'src', path, '..'), { recursive: true });
      await writeFile(join(work, 'src', path), data);
    }
    root = await captureDirectory(local, join(work, 'src'));
  });
  afterAll(async () => {
    await remote?.close();
    local?.close();
    await limited?.stop();
    await Promise.all([backing?.stop(), localCasd?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes a tree with blobs over 1 MiB without ever sending a batch over 1 MiB', async () => {
    limited.resetCounters();
    const result = await remote.pushDirectory(root);
    expect(result.blobsUploaded).toBe(files.size + 8);
    expect(limited.counters.largestBatchBytes).toBeLessThanOrEqual(MiB);
    expect(limited.counters.rejectedBatches).toBe(0);
    expect(limited.counters.byteStreamWrites).toBeGreaterThanOrEqual(2);
    expect(await remote.remoteMissingBlobs([...files.values()].map(digestOfBuffer))).toEqual([]);
    expect((await readObject(backing.cacheDir, digestOfBuffer(files.get('big') as Buffer))).byteLength).toBe(
      3 * MiB + 17,
    );
  });

  it('pulls the tree into an empty cache without GetTree, restoring identical files', async () => {
    const empty = await startTestCasd();
    const connection = empty.connect();
    const puller = await Remote.register(connection, { url: limited.url, readOnly: true });
    try {
      limited.resetCounters();
      expect(await puller.pullTree(root)).toBe(true);
      for (const [path, data] of files) {
        const stored = await readObject(empty.cacheDir, digestOfBuffer(data));
        expect(stored.equals(data), path).toBe(true);
      }
      // The server answers GetTree only with UNIMPLEMENTED, so the tree came through batch
      // reads (casd's FetchTree walks level by level itself) and ByteStream for big blobs.
      expect(limited.counters.batchReadCalls).toBeGreaterThanOrEqual(2);
      expect(limited.counters.largestBatchBytes).toBeLessThanOrEqual(MiB);
      expect(limited.counters.byteStreamReads).toBeGreaterThanOrEqual(2);
    } finally {
      await puller.close();
      connection.close();
      await empty.stop();
    }
  });

  it('fetches the directories level by level with direct reads when asked for the tree only', async () => {
    const empty = await startTestCasd();
    const connection = empty.connect();
    const puller = await Remote.register(connection, { url: limited.url, readOnly: true });
    try {
      await puller.fetchTree(root);
      const directories = await puller.local.getTree(root);
      expect(directories).toHaveLength(8);
      const fileDigests = [...files.values()].map(digestOfBuffer);
      expect(await puller.local.findMissingBlobs(fileDigests)).toHaveLength(fileDigests.length);
    } finally {
      await puller.close();
      connection.close();
      await empty.stop();
    }
  });
});
