import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer } from '../../src/cas/digest.js';
import { CasClient } from '../../src/cas/remote/cas-client.js';
import { Remote } from '../../src/cas/remote/remote.js';
import { CasStore } from '../../src/cas/store/store.js';
import { captureIncremental } from '../../src/cas/capture/incremental-capture.js';
import type { Logger } from '../../src/logger.js';
import type { Connection } from '../../src/grpc/connection.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { type LimitedRemote, startLimitedRemote } from '../helpers/limited-remote.js';
import { captureDirectory, readObject } from './remote-helpers.js';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (m: string): void => void lines.push(m);
  return { lines, debug: push, info: push, warning: push, error: push };
}

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

  it('fetches only the directories when asked for the tree without files', async () => {
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

describe('Remote fallbacks when casd cannot transfer blobs', () => {
  let backing: TestCasd;
  let limited: LimitedRemote;
  let work: string;
  const files = new Map<string, Buffer>();

  beforeAll(async () => {
    backing = await startTestCasd();
    // Refuses blob transfers from casd (gRPC C++); ours (grpc-js) go through.
    limited = await startLimitedRemote(backing.socket, { refuseUserAgent: /grpc-c\+\+/ });
    work = await mkdtemp(join(tmpdir(), 'remote-fallback-'));
    for (let i = 0; i < 50; i++) files.set(join(`d${i % 3}`, `f${i}`), randomBytes(500));
    files.set('big', randomBytes(2 * MiB + 5));
    for (const [path, data] of files) {
      await mkdir(join(work, 'src', path, '..'), { recursive: true });
      await writeFile(join(work, 'src', path), data);
    }
  });
  afterAll(async () => {
    await limited?.stop();
    await backing?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('without the local store, pushes through casd and writes straight to the remote what casd could not', async () => {
    const pusherCasd = await startTestCasd();
    const pusherConnection = pusherCasd.connect();
    const store = new CasStore({ cacheDir: pusherCasd.cacheDir, connection: pusherConnection });
    const logger = recordingLogger();
    const pusher = await Remote.register(pusherConnection, { url: limited.url }, { logger });
    try {
      limited.resetCounters();
      const root = await store.importDirectory(join(work, 'src'));
      const result = await pusher.pushDirectory(root);
      expect(result.blobsUploaded).toBe(files.size + 4);
      expect(limited.counters.refusedTransfers).toBeGreaterThanOrEqual(1);
      expect(logger.lines.join('\n')).toContain(`blobs to ${limited.url} directly (casd could not)`);
      expect(await pusher.remoteMissingBlobs([...files.values()].map(digestOfBuffer))).toEqual([]);
    } finally {
      await pusher.close();
      pusherConnection.close();
      await pusherCasd.stop();
    }
  });

  it('with the local store, sends object files through casd (directly what it cannot) and packed blobs from their pack; pulls read straight from the remote', async () => {
    const pusherCasd = await startTestCasd();
    const pusherConnection = pusherCasd.connect();
    const store = new CasStore({ cacheDir: pusherCasd.cacheDir, connection: pusherConnection });
    const logger = recordingLogger();
    const pusher = await Remote.register(pusherConnection, { url: limited.url }, { store, logger });
    const pullerCasd = await startTestCasd();
    const pullerConnection = pullerCasd.connect();
    const puller = await Remote.register(pullerConnection, { url: limited.url, readOnly: true });
    try {
      await writeFile(join(work, 'src', 'new-file'), randomBytes(700));
      const root = await store.importDirectory(join(work, 'src'));
      limited.resetCounters();
      const result = await pusher.pushDirectory(root);
      expect(result.blobsUploaded).toBeGreaterThanOrEqual(1);
      // casd's own upload is tried first for its object files; this remote refuses it.
      expect(limited.counters.refusedTransfers).toBeGreaterThanOrEqual(1);
      expect(logger.lines.join('\n')).toContain('directly (casd could not)');
      expect(await pusher.remoteMissingBlobs([root, ...[...files.values()].map(digestOfBuffer)])).toEqual([]);

      // Blobs only in a pack (a capture into a pack) casd cannot read: they go direct, casd
      // is not asked.
      const packedDir = join(work, 'packed-src');
      await mkdir(packedDir, { recursive: true });
      const packedData = randomBytes(900);
      await writeFile(join(packedDir, 'p'), packedData);
      const packedRoot = (
        await captureIncremental(store, packedDir, {
          intoPack: true,
          statCacheDir: join(work, 'stat-packed'),
        })
      ).root;
      store.reloadPacks();
      limited.resetCounters();
      const linesBefore = logger.lines.length;
      await pusher.pushDirectory(packedRoot);
      expect(limited.counters.refusedTransfers).toBe(0);
      expect(logger.lines.slice(linesBefore).join('\n')).not.toContain('casd could not');
      expect(await pusher.remoteMissingBlobs([packedRoot, digestOfBuffer(packedData)])).toEqual([]);

      limited.resetCounters();
      expect(await puller.pullTree(root)).toBe(true);
      expect(limited.counters.refusedTransfers).toBeGreaterThanOrEqual(1);
      for (const [path, data] of files) {
        expect((await readObject(pullerCasd.cacheDir, digestOfBuffer(data))).equals(data), path).toBe(true);
      }
    } finally {
      await Promise.all([pusher.close(), puller.close()]);
      pusherConnection.close();
      pullerConnection.close();
      await Promise.all([pusherCasd.stop(), pullerCasd.stop()]);
    }
  });

  it('fetchBlobs reads straight from the remote and still reports blobs it lacks', async () => {
    const casd = await startTestCasd();
    const connection = casd.connect();
    const remote = await Remote.register(connection, { url: limited.url, readOnly: true });
    try {
      const present = digestOfBuffer(files.get('big') as Buffer);
      const absent = digestOfBuffer(randomBytes(10));
      const backingConnection = backing.connect();
      await new CasClient(backingConnection).writeBlobs([
        { digest: present, data: files.get('big') as Buffer },
      ]);
      backingConnection.close();
      limited.resetCounters();
      const { missing } = await remote.fetchBlobs([present, absent]);
      expect(limited.counters.refusedTransfers).toBeGreaterThanOrEqual(1);
      expect(missing).toEqual([absent]);
      expect((await readObject(casd.cacheDir, present)).byteLength).toBe(2 * MiB + 5);
    } finally {
      await remote.close();
      connection.close();
      await casd.stop();
    }
  });
});
