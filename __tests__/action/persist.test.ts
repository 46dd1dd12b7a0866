import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveCache } from '@actions/cache';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { restorePersisted, savePersisted } from '../../src/action/persist/index.js';
import { persistLayout } from '../../src/action/persist/layout.js';
import { packKey } from '../../src/action/persist/manifest.js';
import { readState } from '../../src/action/persist/state.js';
import { silentLogger } from '../../src/logger.js';
import { PackFiles, packNames, writePack } from '../../src/cas/store/pack-files.js';
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

// maxInlineBytes and maxCarriedBytes 0: most cases are about packs saved as entries of their
// own; inline and carried ones say so.
const opts = () => ({
  cacheDir: cas.root,
  prefix,
  runId: '42',
  retryDelayMs: 10,
  maxInlineBytes: 0,
  maxCarriedBytes: 0,
});

/**
 * Saves the pack staged in `layout` under `pack.key`, then an index of `version` listing it
 * alone: entries laid out by hand, as an earlier version or a damaged upload left them.
 */
async function saveByHand(
  layout: ReturnType<typeof persistLayout>,
  version: number,
  pack: { key: string; blobs: number; bytes: number },
): Promise<void> {
  await saveCache([layout.packEntryPath], pack.key);
  mkdirSync(layout.indexStaging, { recursive: true });
  const index = {
    version,
    created: new Date().toISOString(),
    packs: [pack],
    files: { count: 0, bytes: 0, digest: 'none' },
  };
  writeFileSync(join(layout.indexStaging, 'index.json'), JSON.stringify(index));
  await saveCache([layout.indexEntryPath], `${prefix}-index-1-1-1`);
  rmSync(layout.stagingRoot, { recursive: true, force: true });
}

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
    // The pack's refused reservation, then one look-up that finds it; then the index.
    expect(emulator.stats.requests.CreateCacheEntry).toBe(2);
    expect(emulator.stats.requests.GetCacheEntryDownloadURL).toBe(1);
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

  it('makes no look-up on a first save: each entry is reserved, uploaded and committed', async () => {
    cas.addBlobs(20, 1024);
    cas.addSmallFiles('main');
    expect(await savePersisted(opts())).toMatchObject({ packsUploaded: 1, warnings: [] });
    expect(emulator.stats.requests.GetCacheEntryDownloadURL ?? 0).toBe(0);
    expect(emulator.stats.requests.CreateCacheEntry).toBe(2);
    expect(emulator.stats.requests.FinalizeCacheEntryUpload).toBe(2);
  });

  it("keeps packs as the local store's pack files without installBlobs, and the next save counts their blobs", async () => {
    const hashes = cas.addBlobs(40, 2048);
    cas.addSmallFiles('main');
    await savePersisted(opts());
    cas.wipe();

    const restored = await restorePersisted({ ...opts(), installBlobs: false });
    expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 40, warnings: [] });
    // One data file and its index; no object file was written.
    expect(cas.blobs()).toEqual([]);
    const layout = persistLayout(cas.root);
    expect(packNames(layout.packsDir)).toHaveLength(1);
    const packs = new PackFiles(layout.packsDir);
    expect([...packs.sizes().keys()].sort()).toEqual([...hashes].sort());
    await packs.close();

    // Nothing is gone: no rollover, nothing new to upload.
    cas.addBlobs(1, 2048);
    emulator.stats.reset();
    const saved = await savePersisted(opts());
    expect(saved).toMatchObject({ compacted: false, packsUploaded: 1, blobsPacked: 1, warnings: [] });
  });

  it('does not download a pack the local store holds already', async () => {
    cas.addBlobs(10, 1024);
    await savePersisted(opts());
    cas.wipe();
    await restorePersisted({ ...opts(), installBlobs: false });
    emulator.stats.reset();

    const again = await restorePersisted({ ...opts(), installBlobs: false });
    expect(again).toMatchObject({ packsDownloaded: 0, packsReused: 1, blobsRestored: 10, warnings: [] });
    // Only the index: one look-up and its download.
    expect(emulator.stats.requests.GetCacheEntryDownloadURL).toBe(1);
  });

  it("installs the blobs of kept packs into casd's objects with installBlobs (the default)", async () => {
    cas.addBlobs(10, 1024);
    const before = cas.snapshot();
    await savePersisted(opts());
    cas.wipe();
    await restorePersisted(opts());
    expect(cas.snapshot()).toEqual(before);
    expect(packNames(persistLayout(cas.root).packsDir)).toEqual([]);
  });

  it('restores an index and packs of format 1 (one file per blob) saved by an earlier version', async () => {
    const hashes = cas.addBlobs(5, 512).sort();
    const before = cas.snapshot();
    // What the earlier version stored: <staging>/pack/{objects/xx/rest, blobs.txt}, and an
    // index of version 1 listing that pack.
    const layout = persistLayout(cas.root);
    const key = packKey(prefix, hashes);
    mkdirSync(layout.packStaging, { recursive: true });
    for (const hash of hashes) {
      mkdirSync(join(layout.packStaging, 'objects', hash.slice(0, 2)), { recursive: true });
      writeFileSync(
        join(layout.packStaging, 'objects', hash.slice(0, 2), hash.slice(2)),
        readFileSync(join(cas.root, 'cas', 'objects', hash.slice(0, 2), hash.slice(2))),
      );
    }
    writeFileSync(join(layout.packStaging, 'blobs.txt'), `${hashes.join('\n')}\n`);
    await saveByHand(layout, 1, { key, blobs: 5, bytes: 5 * 512 });

    cas.wipe();
    const restored = await restorePersisted({ ...opts(), installBlobs: false });
    expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 5, warnings: [] });
    expect(cas.snapshot()).toEqual(before);
    expect(existsSync(layout.packsDir) ? readdirSync(layout.packsDir) : []).toEqual([]);
  });

  it('does not keep a pack whose data does not match its index, and says so', async () => {
    const hashes = cas.addBlobs(3, 256).sort();
    const layout = persistLayout(cas.root);
    const data = hashes.map((h) => readFileSync(join(cas.root, 'cas', 'objects', h.slice(0, 2), h.slice(2))));
    await writePack(
      layout.packStaging,
      'pack',
      hashes.map((hash, i) => ({ hash, size: data[i].byteLength })),
      (hash) => Promise.resolve(data[hashes.indexOf(hash)]),
    );
    const bytes = readFileSync(join(layout.packStaging, 'pack.pack'));
    bytes[300] ^= 0xff; // inside the second blob
    writeFileSync(join(layout.packStaging, 'pack.pack'), bytes);
    const key = packKey(prefix, hashes);
    await saveByHand(layout, 2, { key, blobs: 3, bytes: 3 * 256 });

    cas.wipe();
    const restored = await restorePersisted({ ...opts(), installBlobs: false });
    expect(restored.warnings).toEqual([
      `pack ${key} holds 1 blob(s) whose bytes do not match their digest, e.g. ${hashes[1]}; they were not installed`,
    ]);
    expect(restored.packsDownloaded).toBe(0);
    expect(packNames(layout.packsDir)).toEqual([]);
  });

  describe('small packs inside the index entry', () => {
    const inline = (maxInlineBytes = 64 * 1024) => ({ ...opts(), maxInlineBytes });

    it('saves a small cache as one entry and restores it with one look-up and one download', async () => {
      cas.addBlobs(20, 1024);
      cas.addSmallFiles('main');
      const before = cas.snapshot();
      const saved = await savePersisted(inline());
      expect(saved).toMatchObject({ packsUploaded: 1, blobsPacked: 20, warnings: [] });
      expect(emulator.stats.requests.CreateCacheEntry).toBe(1);
      expect(emulator.stats.requests.FinalizeCacheEntryUpload).toBe(1);

      cas.wipe();
      emulator.stats.reset();
      const restored = await restorePersisted(inline());
      expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 20, warnings: [] });
      expect(cas.snapshot()).toEqual(before);
      expect(emulator.stats.requests.GetCacheEntryDownloadURL).toBe(1);
    });

    it('carries the inline packs into the next index with the new blobs: one entry per save', async () => {
      const first = cas.addBlobs(10, 1024);
      await savePersisted(inline());
      cas.wipe();
      await restorePersisted({ ...inline(), installBlobs: false });
      const all = [...first, ...cas.addBlobs(2, 1024)].sort();
      emulator.stats.reset();
      const second = await savePersisted(inline());
      expect(second).toMatchObject({ packsUploaded: 1, blobsPacked: 2, warnings: [] });
      expect(emulator.stats.requests.CreateCacheEntry).toBe(1);

      cas.wipe();
      const restored = await restorePersisted(inline());
      expect(restored).toMatchObject({ packsDownloaded: 2, blobsRestored: 12, warnings: [] });
      expect(cas.blobs().sort()).toEqual(all);
    });

    it('turns the inline packs into a pack of their own once they outgrow maxInlineBytes', async () => {
      cas.addBlobs(10, 1024);
      await savePersisted(inline(16 * 1024));
      cas.addBlobs(10, 1024);
      const before = cas.snapshot();
      emulator.stats.reset();
      const second = await savePersisted(inline(16 * 1024));
      expect(second).toMatchObject({ packsUploaded: 1, blobsPacked: 20, compacted: false, warnings: [] });
      expect(emulator.stats.requests.CreateCacheEntry).toBe(2);

      cas.wipe();
      const restored = await restorePersisted(inline(16 * 1024));
      expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 20, warnings: [] });
      expect(cas.snapshot()).toEqual(before);
    });
  });

  describe('new packs held by the index entry (carrier, the default)', () => {
    const held = () => ({ ...opts(), maxCarriedBytes: undefined });
    const savedIndex = async () => (await readState(persistLayout(cas.root), prefix, silentLogger)).index!;

    it('saves a first cache as one entry and restores it with one look-up and one download', async () => {
      cas.addBlobs(40, 4096);
      cas.addSmallFiles('main');
      const before = cas.snapshot();
      const saved = await savePersisted(held());
      expect(saved).toMatchObject({ packsUploaded: 1, blobsPacked: 40, warnings: [] });
      expect(emulator.stats.requests.CreateCacheEntry).toBe(1);
      expect(emulator.stats.requests.FinalizeCacheEntryUpload).toBe(1);
      expect((await savedIndex()).packs).toEqual([
        expect.objectContaining({ blobs: 40, inline: true, carrier: saved.indexKey }),
      ]);

      cas.wipe();
      emulator.stats.reset();
      const restored = await restorePersisted(held());
      expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 40, warnings: [] });
      expect(cas.snapshot()).toEqual(before);
      expect(emulator.stats.requests.GetCacheEntryDownloadURL).toBe(1);
    });

    it('lists a held pack under its carrier later, uploads it once, and restores from both entries', async () => {
      const firstBlobs = cas.addBlobs(40, 4096);
      const first = await savePersisted(held());
      cas.wipe();
      await restorePersisted({ ...held(), installBlobs: false });
      const all = [...firstBlobs, ...cas.addBlobs(3, 4096)].sort();
      emulator.stats.reset();
      const second = await savePersisted(held());
      expect(second).toMatchObject({ packsUploaded: 1, blobsPacked: 3, warnings: [] });
      expect(emulator.stats.requests.CreateCacheEntry).toBe(1);
      expect(emulator.stats.bytesUploaded).toBeLessThan(40 * 4096);
      expect((await savedIndex()).packs).toEqual([
        expect.objectContaining({ blobs: 40, carrier: first.indexKey }),
        expect.objectContaining({ blobs: 3, carrier: second.indexKey }),
      ]);

      cas.wipe();
      emulator.stats.reset();
      const restored = await restorePersisted(held());
      expect(restored).toMatchObject({
        indexKey: second.indexKey,
        packsDownloaded: 2,
        blobsRestored: 43,
        warnings: [],
      });
      expect(cas.blobs().sort()).toEqual(all);
      // The newest index, then the earlier one for its pack: no pack entries.
      expect(emulator.stats.requests.GetCacheEntryDownloadURL).toBe(2);
      expect(emulator.entries().filter((e) => e.key.startsWith(`${prefix}-pack-`))).toEqual([]);
    });

    it('warns about an evicted carrier, restores the rest, and packs those blobs again', async () => {
      cas.addBlobs(5, 1024);
      const first = await savePersisted(held());
      cas.addBlobs(2, 1024);
      await savePersisted(held());
      emulator.evict(first.indexKey!);

      cas.wipe();
      const restored = await restorePersisted(held());
      expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 2 });
      expect(restored.warnings).toEqual([
        expect.stringMatching(
          new RegExp(
            `^could not restore index entry ${first.indexKey}, which holds pack .*-pack-[0-9a-f]{40} listed by ${restored.indexKey}: it is no longer in the cache \\(evicted\\?\\); its 5 blobs are missing$`,
          ),
        ),
      ]);
      const next = await savePersisted(held());
      expect(next).toMatchObject({ warnings: [] });
      expect((await savedIndex()).packs.map((p) => p.carrier)).not.toContain(first.indexKey);
    });

    it('reads the pack it needs out of an earlier entry that holds other packs too', async () => {
      // maxPackBytes splits the first save into two held packs; the second lists both there.
      cas.addBlobs(6, 1024);
      const first = await savePersisted({ ...held(), maxPackBytes: 3 * 1024 });
      expect((await savedIndex()).packs.map((p) => p.carrier)).toEqual([first.indexKey, first.indexKey]);
      cas.addBlobs(1, 1024);
      const before = cas.snapshot();
      await savePersisted({ ...held(), maxPackBytes: 3 * 1024 });
      cas.wipe();
      emulator.stats.reset();
      const restored = await restorePersisted(held());
      expect(restored).toMatchObject({ packsDownloaded: 3, blobsRestored: 7, warnings: [] });
      expect(cas.snapshot()).toEqual(before);
      expect(emulator.stats.requests.GetCacheEntryDownloadURL).toBe(2);
    });
  });

  it("keeps a capture's pack through a restore that does not list it, and drops it once a listed pack holds it", async () => {
    cas.addBlobs(3, 512);
    await savePersisted(opts());
    // A capture into a pack (intoPack) after that restore: blobs the index does not list.
    const layout = persistLayout(cas.root);
    const fresh = new Map(
      [0, 1].map((i) => {
        const data = Buffer.from(`captured blob ${i} ${prefix}`);
        return [createHash('sha256').update(data).digest('hex'), data] as const;
      }),
    );
    await writePack(
      layout.packsDir,
      'capture-test',
      [...fresh.keys()].sort().map((hash) => ({ hash, size: fresh.get(hash)!.byteLength })),
      (hash) => Promise.resolve(fresh.get(hash)!),
    );
    await restorePersisted({ ...opts(), installBlobs: false });
    expect(packNames(layout.packsDir)).toContain('capture-test');

    // Saved, then restored again: a listed pack holds the captured blobs now.
    expect(await savePersisted(opts())).toMatchObject({ packsUploaded: 1, blobsPacked: 2, warnings: [] });
    await restorePersisted({ ...opts(), installBlobs: false });
    expect(packNames(layout.packsDir)).not.toContain('capture-test');
    const packs = new PackFiles(layout.packsDir);
    for (const [hash, data] of fresh) expect((await packs.read(hash)).equals(data)).toBe(true);
    await packs.close();
  });

  it("keeps a capture's pack whole when the new blobs outgrow one pack, instead of rewriting it split", async () => {
    const loose = cas.addBlobs(2, 300);
    const layout = persistLayout(cas.root);
    // 3 x 100 bytes: more than maxPackBytes (200), so split by hash they would need two packs.
    const captured = new Map(
      [0, 1, 2].map((i) => {
        const data = Buffer.from(`${`big capture ${i} ${prefix} `.padEnd(100, '.')}`);
        return [createHash('sha256').update(data).digest('hex'), data] as const;
      }),
    );
    await writePack(
      layout.packsDir,
      'capture-big',
      [...captured.keys()].sort().map((hash) => ({ hash, size: captured.get(hash)!.byteLength })),
      (hash) => Promise.resolve(captured.get(hash)!),
    );
    expect(await savePersisted({ ...opts(), maxPackBytes: 200 })).toMatchObject({
      blobsPacked: 5,
      warnings: [],
    });

    cas.wipe();
    const restored = await restorePersisted({ ...opts(), installBlobs: false });
    expect(restored).toMatchObject({ blobsRestored: 5, warnings: [] });
    const dir = layout.packsDir;
    const held = packNames(dir).map((name) => [...new PackFiles(dir, [name]).sizes().keys()].sort());
    expect(held).toContainEqual([...captured.keys()].sort());
    expect(held.flat().sort()).toEqual([...loose, ...captured.keys()].sort());
  });

  it("saves a capture's pack as part of the pack entry without rewriting it, and restores every blob", async () => {
    const loose = cas.addBlobs(2, 300);
    const layout = persistLayout(cas.root);
    const captured = new Map(
      [0, 1, 2].map((i) => {
        const data = Buffer.from(`packed by a capture ${i} ${prefix}`);
        return [createHash('sha256').update(data).digest('hex'), data] as const;
      }),
    );
    await writePack(
      layout.packsDir,
      'capture-whole',
      [...captured.keys()].sort().map((hash) => ({ hash, size: captured.get(hash)!.byteLength })),
      (hash) => Promise.resolve(captured.get(hash)!),
    );
    expect(await savePersisted(opts())).toMatchObject({ packsUploaded: 1, blobsPacked: 5, warnings: [] });

    cas.wipe();
    const restored = await restorePersisted({ ...opts(), installBlobs: false });
    expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 5, warnings: [] });
    // Two pack files in the entry: the capture's, linked in whole, and one of the loose blobs.
    const names = packNames(layout.packsDir);
    expect(names).toHaveLength(2);
    expect(names[1]).toBe(`${names[0]}-1`);
    const packs = new PackFiles(layout.packsDir);
    expect([...packs.sizes().keys()].sort()).toEqual([...loose, ...captured.keys()].sort());
    for (const [hash, data] of captured) expect((await packs.read(hash)).equals(data)).toBe(true);
    await packs.close();
  });
});
