// A checkout straight from a remote (write once): the tree's Directories are brought local,
// its files go from the remote's blobs into place without entering the local store, and a
// capture told what the remote holds reuses every unchanged digest.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer } from '../../src/cas/digest.js';
import { bringLocal } from '../../src/cas/remote/bring-local.js';
import { Remote } from '../../src/cas/remote/remote.js';
import { CasStore } from '../../src/cas/store/store.js';
import { stageDirectory } from '../../src/cas/entries/stage.js';
import { captureIncremental } from '../../src/cas/capture/incremental-capture.js';
import { isCasError } from '../../src/errors.js';
import type { Connection } from '../../src/grpc/connection.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { objectFile } from './remote-helpers.js';

describe('checkout straight from a remote', () => {
  let remoteCasd: TestCasd;
  let origin: TestCasd;
  let fresh: TestCasd;
  const connections: Connection[] = [];
  const remotes: Remote[] = [];
  let work: string;
  let source: string;
  let root: Digest;
  let freshStore: CasStore;
  let freshRemote: Remote;
  const contents = new Map<string, Buffer>();

  beforeAll(async () => {
    [remoteCasd, origin, fresh] = await Promise.all([
      startTestCasd({ tcp: true }),
      startTestCasd(),
      startTestCasd(),
    ]);
    work = mkdtempSync(join(tmpdir(), 'remote-checkout-'));
    source = join(work, 'source');
    for (let i = 0; i < 30; i++) {
      mkdirSync(join(source, `d${i % 4}`), { recursive: true });
      contents.set(join(`d${i % 4}`, `f${i}.txt`), Buffer.from(`file ${i} `.repeat(10 + i)));
    }
    // Above a batch (streamed into place), twice; a small content twice; an executable.
    const big = Buffer.alloc(3 * 1024 * 1024 + 5, 'big ');
    contents.set('big.bin', big);
    contents.set(join('d0', 'big-again.bin'), big);
    contents.set('same-1', Buffer.from('same'));
    contents.set('same-2', Buffer.from('same'));
    contents.set('run.sh', Buffer.from('#!/bin/sh\necho hi\n'));
    for (const [path, data] of contents) writeFileSync(join(source, path), data);
    chmodSync(join(source, 'run.sh'), 0o755);

    const originConnection = origin.connect();
    connections.push(originConnection);
    const originStore = new CasStore({ cacheDir: origin.cacheDir, connection: originConnection });
    const pushing = await Remote.register(originConnection, { url: remoteCasd.url! }, { store: originStore });
    remotes.push(pushing);
    root = await originStore.importDirectory(source);
    await pushing.pushDirectory(root);

    const freshConnection = fresh.connect();
    connections.push(freshConnection);
    freshStore = new CasStore({ cacheDir: fresh.cacheDir, connection: freshConnection });
    freshRemote = await Remote.register(freshConnection, { url: remoteCasd.url! }, { store: freshStore });
    remotes.push(freshRemote);
  });
  afterAll(async () => {
    for (const remote of remotes) await remote.close();
    for (const connection of connections) connection.close();
    await Promise.all([remoteCasd?.stop(), origin?.stop(), fresh?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it('writes every file from the remote, byte for byte with its mode, and none into the local store', async () => {
    const fetched = await bringLocal(freshStore, freshRemote, root, { filesFromRemote: true });
    expect(fetched.fetched).toBe(fetched.needed);
    const dest = join(work, 'dest');
    await stageDirectory(freshStore, root, dest, {
      remote: freshRemote.direct,
      statCacheDir: join(work, 'stat'),
    });
    for (const [path, data] of contents) {
      // equals(): toEqual compares big buffers byte by byte, for seconds.
      expect(readFileSync(join(dest, path)).equals(data)).toBe(true);
      expect(existsSync(objectFile(fresh.cacheDir, digestOfBuffer(data)))).toBe(false);
    }
    expect(statSync(join(dest, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(dest, 'same-1')).mode & 0o777).toBe(0o644);

    // Told what the remote holds, a capture hashes nothing; without, everything again.
    const trusted = await captureIncremental(freshStore, dest, {
      statCacheDir: join(work, 'stat'),
      racyWindowMs: 0,
      remoteMissingBlobs: (digests) => freshRemote.remoteMissingBlobs(digests),
    });
    expect(trusted).toMatchObject({ root, filesHashed: 0 });
    const distrusted = await captureIncremental(freshStore, dest, {
      statCacheDir: join(work, 'stat'),
      racyWindowMs: 0,
    });
    expect(distrusted.root).toEqual(root);
    expect(distrusted.filesHashed).toBe(contents.size);
  });

  it('refuses a tree the remote cannot complete before writing anything', async () => {
    const partial = join(work, 'partial');
    mkdirSync(partial);
    writeFileSync(join(partial, 'only-local.txt'), 'the remote never got this');
    const originStore = new CasStore({ cacheDir: origin.cacheDir, connection: connections[0] });
    const partialRoot = await originStore.importDirectory(partial);
    // The Directory alone reaches the remote.
    await remotes[0].direct.writeBlobs([
      { digest: partialRoot, data: await originStore.readBlob(partialRoot) },
    ]);
    const error = await bringLocal(freshStore, freshRemote, partialRoot, { filesFromRemote: true }).catch(
      (err: unknown) => err,
    );
    expect(isCasError(error, 'blob-not-found')).toBe(true);
    expect((error as Error).message).toMatch(/is incomplete on .*: 1 blob\(s\) missing/);
  });
});
