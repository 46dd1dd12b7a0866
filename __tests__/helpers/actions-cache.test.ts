import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restoreCache, saveCache } from '@actions/cache';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ActionsCacheEmulator, startActionsCacheEmulator, useEnv } from './actions-cache/index.js';

let emulator: ActionsCacheEmulator;
let dir: string;
let restoreEnv: (() => void) | undefined;

beforeAll(async () => {
  emulator = await startActionsCacheEmulator();
});
afterAll(async () => {
  await emulator?.stop();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emu-'));
  emulator.stats.reset();
  emulator.faults.clear();
});
afterEach(() => {
  restoreEnv?.();
  restoreEnv = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `content` into a fresh data dir and returns its path (the cached path). */
function fill(content: string, name = 'data'): string {
  const path = join(dir, name);
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'file.txt'), content);
  return path;
}

function read(path: string): string {
  return readFileSync(join(path, 'file.txt'), 'utf8');
}

for (const protocol of ['v2', 'v1'] as const) {
  describe(`cache service ${protocol}`, () => {
    beforeEach(() => {
      restoreEnv = useEnv(protocol === 'v2' ? emulator.envV2 : emulator.envV1);
    });

    it('saves and restores an entry by its exact key', async () => {
      const path = fill(`hello ${protocol}`);
      const key = `exact-${protocol}-${Date.now()}`;
      expect(await saveCache([path], key)).toBeGreaterThan(0);
      rmSync(path, { recursive: true });

      expect(await restoreCache([path], key)).toBe(key);
      expect(read(path)).toBe(`hello ${protocol}`);
      expect(emulator.stats.entriesCreated).toBe(1);
      expect(emulator.stats.bytesUploaded).toBeGreaterThan(0);
      expect(emulator.stats.bytesDownloaded).toBe(emulator.stats.bytesUploaded);
      expect(emulator.stats.perKey.get(key)).toMatchObject({ uploads: 1, downloads: 1 });
    });

    it('restores the newest entry whose key starts with a restore key', async () => {
      const path = fill('');
      const prefix = `prefix-${protocol}-${Date.now()}-`;
      for (const n of [1, 2, 3]) {
        fill(`generation ${n}`);
        expect(await saveCache([path], `${prefix}${n}`)).toBeGreaterThan(0);
      }
      rmSync(path, { recursive: true });

      expect(await restoreCache([path], `${prefix}missing`, [prefix])).toBe(`${prefix}3`);
      expect(read(path)).toBe('generation 3');
    });

    it('reports a miss when no key matches', async () => {
      const path = fill('x');
      expect(await restoreCache([path], `absent-${protocol}`, [`absent-${protocol}-`])).toBeUndefined();
    });

    it('does not match an entry saved with other paths (another version)', async () => {
      const path = fill('one', 'a');
      const other = fill('two', 'b');
      const key = `version-${protocol}-${Date.now()}`;
      expect(await saveCache([path], key)).toBeGreaterThan(0);
      expect(await restoreCache([other], key)).toBeUndefined();
    });

    it('refuses to overwrite an existing key and keeps the first content', async () => {
      const path = fill('first');
      const key = `existing-${protocol}-${Date.now()}`;
      expect(await saveCache([path], key)).toBeGreaterThan(0);
      fill('second');
      expect(await saveCache([path], key)).toBe(-1);

      expect(emulator.entries().filter((e) => e.key === key)).toHaveLength(1);
      rmSync(path, { recursive: true });
      await restoreCache([path], key);
      expect(read(path)).toBe('first');
    });

    it('answers a reserve conflict when one is injected', async () => {
      const path = fill('conflict');
      emulator.faults.conflictNext();
      expect(await saveCache([path], `conflict-${protocol}-${Date.now()}`)).toBe(-1);
      expect(emulator.stats.entriesCreated).toBe(0);
    });

    it('fails a save whose entry creation is rate limited', async () => {
      const path = fill('limited');
      const key = `limited-${protocol}-${Date.now()}`;
      emulator.faults.failNext(1, 429, protocol === 'v2' ? 'CreateCacheEntry' : 'v1.reserveCache');
      expect(await saveCache([path], key)).toBe(-1);
      expect(emulator.entries().map((e) => e.key)).not.toContain(key);
      expect(emulator.stats.entriesCreated).toBe(0);
    });

    it('fails a restore whose download answers 500', async () => {
      const path = fill('broken download');
      const key = `download-${protocol}-${Date.now()}`;
      expect(await saveCache([path], key)).toBeGreaterThan(0);
      emulator.faults.failNext(1, 500, 'download');
      expect(await restoreCache([path], key)).toBeUndefined();
      expect(emulator.stats.requests.download).toBe(1);
    });
  });
}

describe('cache service v2 faults', () => {
  beforeEach(() => {
    restoreEnv = useEnv(emulator.envV2);
  });

  it('lets the library retry a look-up that answered 500 once', async () => {
    const path = fill('retried');
    const key = `retry-${Date.now()}`;
    expect(await saveCache([path], key)).toBeGreaterThan(0);
    emulator.faults.failNext(1, 500, 'GetCacheEntryDownloadURL');
    expect(await restoreCache([path], key, [], { lookupOnly: true })).toBe(key);
    expect(emulator.stats.requests.GetCacheEntryDownloadURL).toBe(2);
  });

  it('fails a look-up whose connection is reset', async () => {
    const path = fill('reset');
    emulator.faults.resetNext(1, 'GetCacheEntryDownloadURL');
    expect(await restoreCache([path], `reset-${Date.now()}`)).toBeUndefined();
  });

  it('rejects calls without the runtime token', async () => {
    const response = await fetch(
      `${emulator.baseUrl}/twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL`,
      {
        method: 'POST',
        body: JSON.stringify({ key: 'k', version: 'v' }),
        headers: { 'Content-Type': 'application/json' },
      },
    );
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ code: 'unauthenticated', msg: 'missing or wrong bearer token' });
  });
});
