import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bringLocal, ensureRef, pullRef } from '../../src/cas/remote/bring-local.js';
import { type Digest, digestOfBuffer, formatDigest } from '../../src/cas/digest.js';
import { RefStore } from '../../src/cas/store/refs.js';
import { pushRef } from '../../src/cas/remote/remote-refs.js';
import { Remote } from '../../src/cas/remote/remote.js';
import { CasStore } from '../../src/cas/store/store.js';
import type { CasError } from '../../src/errors.js';
import type { Connection } from '../../src/grpc/connection.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { captureDirectory } from './remote-helpers.js';

/** A casd with an empty cache, its store, refs, and the remote registered with it. */
interface Puller {
  casd: TestCasd;
  connection: Connection;
  store: CasStore;
  refs: RefStore;
  remote: Remote;
}

describe('bringLocal, pullRef and ensureRef against a real remote casd', () => {
  let remoteCasd: TestCasd;
  let sourceCasd: TestCasd;
  let source: Connection;
  let sourceStore: CasStore;
  let work: string;
  let root: Digest;
  const pullers: Puller[] = [];

  // 3 files in 2 directories plus the root: 5 distinct blobs (b.bin and c.bin are the same).
  const shared = randomBytes(500);
  const contents = { 'a.bin': randomBytes(300), 'sub/b.bin': shared, 'sub/deep/c.bin': shared };

  async function puller(): Promise<Puller> {
    const casd = await startTestCasd();
    const connection = casd.connect();
    const store = new CasStore({ cacheDir: casd.cacheDir, connection });
    const remote = await Remote.register(
      connection,
      { url: remoteCasd.url as string, readOnly: true },
      { store },
    );
    const p = { casd, connection, store, refs: new RefStore(casd.cacheDir), remote };
    pullers.push(p);
    return p;
  }

  beforeAll(async () => {
    [remoteCasd, sourceCasd] = await Promise.all([startTestCasd({ tcp: true }), startTestCasd()]);
    source = sourceCasd.connect();
    sourceStore = new CasStore({ cacheDir: sourceCasd.cacheDir, connection: source });
    work = await mkdtemp(join(tmpdir(), 'bring-local-'));
    for (const [path, data] of Object.entries(contents)) {
      await mkdir(join(work, 'src', path, '..'), { recursive: true });
      await writeFile(join(work, 'src', path), data);
    }
    root = await captureDirectory(source, join(work, 'src'));
    const pusher = await Remote.register(source, { url: remoteCasd.url as string }, { store: sourceStore });
    try {
      await pusher.pushDirectory(root);
      expect(await pushRef(pusher, 'team/main', root)).toBe(true);
    } finally {
      await pusher.close();
    }
  });
  afterAll(async () => {
    for (const p of pullers) {
      await p.remote.close();
      p.connection.close();
      await p.casd.stop();
    }
    source?.close();
    await Promise.all([remoteCasd?.stop(), sourceCasd?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('counts a tree complete locally and fetches nothing, with no remote at all', async () => {
    expect(await bringLocal(sourceStore, undefined, root)).toEqual({
      needed: 5,
      fetched: 0,
      bytesFetched: 0,
    });
  });

  it('fetches every blob into an empty cache, reporting each group, then nothing the second time', async () => {
    const p = await puller();
    const heard = { blobs: 0, bytes: 0 };
    const first = await bringLocal(p.store, p.remote, root, {
      onFetched: (blobs, bytes) => {
        heard.blobs += blobs;
        heard.bytes += bytes;
      },
    });
    expect(first).toEqual({ needed: 5, fetched: 5, bytesFetched: heard.bytes });
    expect(heard.blobs).toBe(5);
    expect(first.bytesFetched).toBeGreaterThan(800);
    expect(await p.store.containsDirectory(root)).toBe(true);
    expect(await bringLocal(p.store, p.remote, root)).toEqual({ needed: 5, fetched: 0, bytesFetched: 0 });
  });

  it('fetches only the files an incomplete local tree lacks', async () => {
    const p = await puller();
    await bringLocal(p.store, p.remote, root);
    await rm(p.store.objectPath(digestOfBuffer(contents['a.bin'])));
    const again = await bringLocal(p.store, p.remote, root);
    expect(again).toEqual({ needed: 5, fetched: 1, bytesFetched: 300 });
  });

  it('without a remote, names the tree and a blob the local cache lacks', async () => {
    const p = await puller();
    const error = (await bringLocal(p.store, undefined, root).catch((e: unknown) => e)) as CasError;
    expect(error.reason).toBe('blob-not-found');
    expect(error.message).toBe(
      `tree ${formatDigest(root)} is incomplete in the local cache and no remote is set: 1 blob(s) missing, e.g. ${formatDigest(root)}`,
    );
  });

  it('names the remote that lacks blobs of the tree', async () => {
    const p = await puller();
    const unknown = digestOfBuffer(randomBytes(32));
    const error = (await bringLocal(p.store, p.remote, unknown).catch((e: unknown) => e)) as CasError;
    expect(error.reason).toBe('blob-not-found');
    expect(error.message).toBe(
      `tree ${formatDigest(unknown)} is incomplete on ${remoteCasd.url}: 1 blob(s) missing, e.g. ${formatDigest(unknown)}`,
    );
  });

  it('pullRef resolves the ref on the remote, fetches its tree and sets the local ref', async () => {
    const p = await puller();
    const pulled = await pullRef(p.store, p.refs, p.remote, 'team/main');
    expect(pulled).toEqual({ root, needed: 5, fetched: 5, bytesFetched: pulled?.bytesFetched });
    expect(await p.refs.resolve('team/main')).toEqual(root);
    expect(await pullRef(p.store, p.refs, p.remote, 'team/unknown')).toBeUndefined();
  });

  it('ensureRef takes a complete local ref without the remote, else the remote ref', async () => {
    const p = await puller();
    expect(await ensureRef(p.store, p.refs, undefined, 'team/main')).toBeUndefined();
    const fromRemote = await ensureRef(p.store, p.refs, p.remote, 'team/main');
    expect(fromRemote).toMatchObject({ root, fetched: 5 });
    expect(await ensureRef(p.store, p.refs, undefined, 'team/main')).toEqual({
      root,
      needed: 5,
      fetched: 0,
      bytesFetched: 0,
    });
  });

  it("ensureRef replaces a local ref whose tree is gone with the remote's", async () => {
    const p = await puller();
    const gone = digestOfBuffer(randomBytes(32));
    await p.refs.set('team/main', gone);
    expect(await ensureRef(p.store, p.refs, p.remote, 'team/main')).toMatchObject({ root, fetched: 5 });
    expect(await p.refs.resolve('team/main')).toEqual(root);
  });
});
