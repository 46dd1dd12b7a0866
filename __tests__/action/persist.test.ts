import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { restorePersisted, savePersisted } from '../../src/action/persist/index.js';
import {
  type ActionsCacheEmulator,
  startActionsCacheEmulator,
  useEnv,
} from '../helpers/actions-cache/index.js';
import { FakeCasDir } from '../helpers/actions-cache/fake-cas-dir.js';

let emulator: ActionsCacheEmulator;
let work: string;
let cas: FakeCasDir;
let prefix: string;
let restoreEnv: () => void;
let counter = 0;

beforeAll(async () => {
  emulator = await startActionsCacheEmulator();
});
afterAll(async () => {
  await emulator?.stop();
});
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'persist-'));
  cas = new FakeCasDir(join(work, 'cache'));
  prefix = `casd-test-${process.pid}-${++counter}`;
  restoreEnv = useEnv(emulator.env);
  emulator.faults.clear();
  emulator.stats.reset();
});
afterEach(() => {
  restoreEnv();
  rmSync(work, { recursive: true, force: true });
});

const opts = () => ({ cacheDir: cas.root, prefix, runId: '42', retryDelayMs: 10 });

describe('savePersisted and restorePersisted', () => {
  it('restores into an empty directory exactly the blobs and small files saved', async () => {
    cas.addBlobs(50, 4096);
    cas.addSmallFiles('main');
    const before = cas.snapshot();

    const saved = await savePersisted(opts());
    expect(saved).toMatchObject({ packsUploaded: 1, packsSkipped: 0, blobsPacked: 50, warnings: [] });
    expect(saved.indexKey).toMatch(new RegExp(`^${prefix}-index-42-1-\\d+$`));
    expect(emulator.stats.entriesCreated).toBe(2);

    cas.wipe();
    const restored = await restorePersisted(opts());
    expect(restored).toMatchObject({
      indexKey: saved.indexKey,
      packsDownloaded: 1,
      blobsRestored: 50,
      filesRestored: 3,
      warnings: [],
    });
    expect(cas.snapshot()).toEqual(before);
  });

  it('reports a miss without warnings when nothing was saved under the prefix', async () => {
    const restored = await restorePersisted(opts());
    expect(restored).toMatchObject({ packsDownloaded: 0, blobsRestored: 0, warnings: [] });
    expect(restored.indexKey).toBeUndefined();
  });

  it('uploads only a small new pack after 1% new blobs', async () => {
    cas.addBlobs(200, 8192);
    cas.addSmallFiles('main');
    await savePersisted(opts());
    const firstBytes = emulator.stats.bytesUploaded;

    cas.wipe();
    await restorePersisted(opts());
    cas.addBlobs(2, 8192);
    emulator.stats.reset();
    const second = await savePersisted(opts());

    expect(second).toMatchObject({ packsUploaded: 1, blobsPacked: 2, compacted: false, warnings: [] });
    expect(emulator.stats.entriesCreated).toBe(2);
    expect(emulator.stats.bytesUploaded).toBeLessThan(firstBytes / 20);
  });

  it('lists the old and the new pack, so a fresh restore gets every blob', async () => {
    cas.addBlobs(20, 1024);
    await savePersisted(opts());
    cas.addBlobs(3, 1024);
    await savePersisted(opts());
    const before = cas.snapshot();

    cas.wipe();
    const restored = await restorePersisted(opts());
    expect(restored).toMatchObject({ packsDownloaded: 2, blobsRestored: 23, warnings: [] });
    expect(cas.snapshot()).toEqual(before);
  });

  it('saves nothing at all when nothing changed since the restore', async () => {
    cas.addBlobs(10, 1024);
    cas.addSmallFiles('main');
    await savePersisted(opts());
    cas.wipe();
    await restorePersisted(opts());
    emulator.stats.reset();

    const again = await savePersisted(opts());
    expect(again).toMatchObject({ packsUploaded: 0, packsSkipped: 0, warnings: [] });
    expect(again.indexKey).toBeUndefined();
    expect(emulator.stats.entriesCreated).toBe(0);
  });

  it('saves only a new index when only a ref changed', async () => {
    cas.addBlobs(10, 1024);
    cas.addSmallFiles('main');
    await savePersisted(opts());
    cas.writeFile('cas/refs/heads/project/main', 'ref moved');
    emulator.stats.reset();

    const again = await savePersisted(opts());
    expect(again.packsUploaded).toBe(0);
    expect(again.indexKey).toBeDefined();
    expect(emulator.stats.entriesCreated).toBe(1);
  });

  it('skips a pack whose key exists already without a warning', async () => {
    cas.addBlobs(10, 1024);
    await savePersisted(opts());
    // A job that restored nothing (state gone) but holds the same blobs.
    rmSync(join(cas.root, '.persist'), { recursive: true });
    emulator.stats.reset();

    const again = await savePersisted(opts());
    expect(again).toMatchObject({ packsUploaded: 0, packsSkipped: 1, warnings: [] });
    expect(again.indexKey).toBeDefined();
    expect(emulator.stats.requests.CreateCacheEntry).toBe(1);
  });

  it('rolls over into one fresh pack when most listed bytes are gone locally', async () => {
    const old = cas.addBlobs(30, 4096);
    await savePersisted(opts());
    for (const hash of old.slice(0, 20)) cas.removeBlob(hash);
    cas.addBlobs(2, 4096);
    const before = cas.snapshot();

    const saved = await savePersisted(opts());
    expect(saved).toMatchObject({ compacted: true, packsUploaded: 1, blobsPacked: 12, warnings: [] });

    cas.wipe();
    const restored = await restorePersisted(opts());
    expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 12 });
    expect(cas.snapshot()).toEqual(before);
  });

  it('rolls over when the index would list more than maxPacks packs', async () => {
    cas.addBlobs(5, 1024);
    await savePersisted({ ...opts(), maxPacks: 2 });
    cas.addBlobs(1, 1024);
    expect(await savePersisted({ ...opts(), maxPacks: 2 })).toMatchObject({ compacted: false });
    cas.addBlobs(1, 1024);
    const third = await savePersisted({ ...opts(), maxPacks: 2 });
    expect(third).toMatchObject({ compacted: true, packsUploaded: 1, blobsPacked: 7 });

    cas.wipe();
    expect(await restorePersisted(opts())).toMatchObject({ packsDownloaded: 1, blobsRestored: 7 });
  });

  it('splits new blobs into several packs above maxPackBytes', async () => {
    cas.addBlobs(6, 1000);
    const saved = await savePersisted({ ...opts(), maxPackBytes: 2500 });
    expect(saved).toMatchObject({ packsUploaded: 3, blobsPacked: 6 });
  });

  it('keeps a local ref that is newer than the restored one', async () => {
    cas.addSmallFiles('main');
    await savePersisted(opts());
    cas.wipe();
    cas.writeFile('cas/refs/heads/project/main', 'local and newer');

    await restorePersisted(opts());
    expect(readFileSync(join(cas.root, 'cas/refs/heads/project/main'), 'utf8')).toBe('local and newer');
    expect(readFileSync(join(cas.root, 'assets/fetch/main'), 'utf8')).toBe('asset main');
  });

  it('works through the v1 protocol of GHES', async () => {
    restoreEnv();
    restoreEnv = useEnv(emulator.envV1);
    cas.addBlobs(10, 2048);
    cas.addSmallFiles('ghes');
    const before = cas.snapshot();
    expect(await savePersisted(opts())).toMatchObject({ packsUploaded: 1, warnings: [] });
    cas.wipe();
    expect(await restorePersisted(opts())).toMatchObject({ packsDownloaded: 1, blobsRestored: 10 });
    expect(cas.snapshot()).toEqual(before);
    expect(emulator.stats.requests['v1.reserveCache']).toBe(2);
  });
});
