import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveCache } from '@actions/cache';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CasError } from '../../src/errors.js';
import { troublePolicy } from '../../src/action/guard.js';
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
  work = mkdtempSync(join(tmpdir(), 'persist-f-'));
  cas = new FakeCasDir(join(work, 'cache'));
  prefix = `casd-fault-${process.pid}-${++counter}`;
  restoreEnv = useEnv(emulator.env);
  emulator.faults.clear();
  emulator.stats.reset();
});
afterEach(() => {
  restoreEnv();
  rmSync(work, { recursive: true, force: true });
});

// maxInlineBytes and maxCarriedBytes 0: the faults are aimed at packs saved and restored as
// entries of their own (held packs have their own cases).
const opts = () => ({
  cacheDir: cas.root,
  prefix,
  runId: '7',
  attempts: 2,
  retryDelayMs: 10,
  maxInlineBytes: 0,
  maxCarriedBytes: 0,
});

describe('cache service trouble during save', () => {
  it('turns a rate-limited save into warnings without throwing', async () => {
    cas.addBlobs(5, 1024);
    cas.addSmallFiles('main');
    emulator.faults.failNext(100, 429, 'CreateCacheEntry');
    const saved = await savePersisted(opts());
    expect(saved).toMatchObject({ packsUploaded: 0, packsSkipped: 0 });
    expect(saved.indexKey).toBeUndefined();
    expect(saved.warnings).toHaveLength(2);
    expect(saved.warnings[0]).toMatch(
      /^could not save pack casd-fault-.*-pack-[0-9a-f]{40} \(5 blobs\): .*rate limit/,
    );
    expect(saved.warnings[1]).toMatch(
      /^could not save the cache index casd-fault-.*-index-7-1-\d+: .*rate limit/,
    );
    expect(emulator.stats.entriesCreated).toBe(0);
  });

  it('retries a save that was rate limited once', async () => {
    cas.addBlobs(5, 1024);
    emulator.faults.failNext(1, 429, 'CreateCacheEntry');
    const saved = await savePersisted(opts());
    expect(saved).toMatchObject({ packsUploaded: 1, warnings: [] });
    expect(saved.indexKey).toBeDefined();
  });

  it('retries a pack whose reservation conflicted but which does not exist', async () => {
    cas.addBlobs(5, 1024);
    emulator.faults.conflictNext();
    const saved = await savePersisted(opts());
    expect(saved).toMatchObject({ packsUploaded: 1, warnings: [] });
  });

  it('retries after a connection reset', async () => {
    cas.addBlobs(5, 1024);
    emulator.faults.resetNext(1, 'CreateCacheEntry');
    expect(await savePersisted(opts())).toMatchObject({ packsUploaded: 1, warnings: [] });
  });

  it('lives with a single 500, which the library retries itself', async () => {
    cas.addBlobs(5, 1024);
    emulator.faults.failNext(1, 500, 'FinalizeCacheEntryUpload');
    expect(await savePersisted(opts())).toMatchObject({ packsUploaded: 1, warnings: [] });
    expect(emulator.stats.requests.FinalizeCacheEntryUpload).toBe(3);
  });

  it('throws a CasError when the policy is fail-on-cache-error', async () => {
    cas.addBlobs(5, 1024);
    emulator.faults.failNext(100, 429, 'CreateCacheEntry');
    const error = await savePersisted({
      ...opts(),
      policy: troublePolicy({ failOnCacheError: true }, 'post'),
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(CasError);
    expect(error).toMatchObject({ reason: 'remote-unavailable' });
    expect((error as Error).message).toMatch(/^could not save pack .*rate limit/);
  });

  it('gives up with a warning once the deadline has passed', async () => {
    cas.addBlobs(5, 1024);
    const saved = await savePersisted({ ...opts(), timeoutMs: 1 });
    expect(saved.warnings.join('\n')).toMatch(/no time left/);
    expect(emulator.stats.entriesCreated).toBe(0);
  });
});

describe('cache service trouble during restore', () => {
  it('turns a rate-limited index look-up into a warning', async () => {
    cas.addBlobs(3, 1024);
    await savePersisted(opts());
    cas.wipe();
    emulator.faults.failNext(100, 429, 'GetCacheEntryDownloadURL');
    const restored = await restorePersisted(opts());
    expect(restored.indexKey).toBeUndefined();
    expect(restored.warnings).toEqual([
      expect.stringMatching(/^could not restore the cache index of casd-fault-.*429/),
    ]);
  });

  it('retries a pack download that answered 500 once', async () => {
    cas.addBlobs(3, 1024);
    await savePersisted(opts());
    cas.wipe();
    // The index downloads first; the pack's first download fails.
    emulator.faults.failNext(1, 500, 'download', 1);
    const restored = await restorePersisted(opts());
    expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 3, warnings: [] });
  });

  it('warns about a pack that failed to download and still restores the small files', async () => {
    cas.addBlobs(3, 1024);
    cas.addSmallFiles('main');
    await savePersisted(opts());
    cas.wipe();
    // The index (first download) gets through; every pack download fails.
    emulator.faults.failNext(100, 500, 'download', 1);
    const restored = await restorePersisted(opts());
    expect(restored).toMatchObject({ packsDownloaded: 0, blobsRestored: 0, filesRestored: 3 });
    expect(restored.warnings).toEqual([
      expect.stringMatching(
        /^could not restore pack .*-pack-[0-9a-f]{40} listed by .*: .*500.*; its 3 blobs are missing$/s,
      ),
    ]);
  });

  it('warns about an evicted pack, restores the rest, and drops it from the next index', async () => {
    cas.addBlobs(4, 1024);
    const first = await savePersisted(opts());
    cas.addBlobs(2, 1024);
    await savePersisted(opts());
    const packs = emulator.entries().filter((e) => e.key.startsWith(`${prefix}-pack-`));
    const oldPack = packs.sort((a, b) => a.seq - b.seq)[0];
    expect(first.indexKey).toBeDefined();
    emulator.evict(oldPack.key);

    cas.wipe();
    const restored = await restorePersisted(opts());
    expect(restored).toMatchObject({ packsDownloaded: 1, blobsRestored: 2 });
    expect(restored.warnings).toEqual([
      `could not restore pack ${oldPack.key} listed by ${restored.indexKey}: it is no longer in the cache (evicted?); its 4 blobs are missing`,
    ]);

    const saved = await savePersisted(opts());
    expect(saved).toMatchObject({ packsUploaded: 0, warnings: [] });
    cas.wipe();
    expect(await restorePersisted(opts())).toMatchObject({
      packsDownloaded: 1,
      blobsRestored: 2,
      warnings: [],
    });
  });

  it('throws a CasError for an evicted pack when the policy is fail-on-cache-error', async () => {
    cas.addBlobs(2, 1024);
    await savePersisted(opts());
    const pack = emulator.entries().find((e) => e.key.startsWith(`${prefix}-pack-`));
    emulator.evict(pack!.key);
    cas.wipe();
    await expect(
      restorePersisted({ ...opts(), policy: troublePolicy({ failOnCacheError: true }, 'post') }),
    ).rejects.toThrow(/^could not restore pack .* it is no longer in the cache/);
  });

  it('warns about an index entry whose manifest is not JSON', async () => {
    const staged = join(cas.root, '.persist-staging', 'index');
    mkdirSync(staged, { recursive: true });
    writeFileSync(join(staged, 'index.json'), '{not json');
    expect(await saveCache([staged], `${prefix}-index-bogus`)).toBeGreaterThan(0);
    rmSync(staged, { recursive: true });

    const restored = await restorePersisted(opts());
    expect(restored.warnings).toEqual([
      expect.stringMatching(
        new RegExp(`^restoring the local cache failed: index manifest ${prefix}-index-bogus is not JSON`),
      ),
    ]);
  });
});

describe('bad options', () => {
  it.each([
    ['', 'cache key prefix "" is empty'],
    ['a,b', 'cache key prefix "a,b" contains a comma'],
    ['x'.repeat(401), 'is 401 characters long, at most 400 are allowed'],
  ])('rejects the prefix %j', async (bad, message) => {
    await expect(savePersisted({ ...opts(), prefix: bad })).rejects.toThrow(message);
    await expect(restorePersisted({ ...opts(), prefix: bad })).rejects.toThrow(message);
  });

  it('rejects attempts below 1', async () => {
    await expect(savePersisted({ ...opts(), attempts: 0 })).rejects.toThrow(
      'attempts must be an integer >= 1, got 0',
    );
  });

  it('rejects a non-positive timeout', async () => {
    await expect(restorePersisted({ ...opts(), timeoutMs: 0 })).rejects.toThrow(
      'timeoutMs must be > 0, got 0',
    );
  });
});
