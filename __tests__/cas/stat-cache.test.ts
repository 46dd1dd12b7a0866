import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lstatSync } from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  STAT_CACHE_VERSION,
  type StatCache,
  fileStatOf,
  isRacy,
  loadStatCache,
  racyWindowFor,
  sameStat,
  saveStatCache,
  statCachePath,
  statKeyFrom,
  statKeyOf,
  wallClockNs,
} from '../../src/cas/capture/stat-cache.js';

const HASH = 'a'.repeat(64);
const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stat-cache-t-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function sample(root: string): StatCache {
  return {
    root,
    scanStartNs: 1_700_000_000_123_456_789n,
    files: new Map([['a.txt', { stat: '5:1700000000000000001:1700000000000000002:42:33188', hash: HASH }]]),
    dirs: new Map([['', { hash: HASH, sizeBytes: 80 }]]),
  };
}

describe('stat cache file', () => {
  it('round-trips entries, directory digests and nanosecond times exactly', async () => {
    const file = join(scratch(), 'sub', 'cache.json');
    await saveStatCache(file, sample('/work/tree'));
    const loaded = await loadStatCache(file, '/work/tree');
    expect(loaded.cache).toEqual(sample('/work/tree'));
  });

  it('round-trips a large cache written a piece at a time, with paths JSON must escape', async () => {
    const file = join(scratch(), 'big.json');
    const cache = sample('/r');
    for (let i = 0; i < 20_000; i++) {
      cache.files.set(`d${i % 7}/f "${i}"\\\n\t.txt`, { stat: `${i}:1:2:${i}:33188`, hash: HASH });
    }
    await saveStatCache(file, cache);
    const loaded = await loadStatCache(file, '/r');
    expect(loaded.cache?.files.size).toBe(20_001);
    expect(loaded.cache).toEqual(cache);
  });

  it('writes an empty cache that loads', async () => {
    const file = join(scratch(), 'empty.json');
    const cache: StatCache = { root: '/r', scanStartNs: 5n, files: new Map(), dirs: new Map() };
    await saveStatCache(file, cache);
    expect((await loadStatCache(file, '/r')).cache).toEqual(cache);
  });

  it('refuses a file entry whose stat is not five decimal fields', async () => {
    const file = join(scratch(), 'c.json');
    await saveStatCache(file, sample('/r'));
    writeFileSync(file, readFileSync(file, 'utf8').replace(':42:', ':x:'));
    expect(await loadStatCache(file, '/r')).toMatchObject({
      reason: expect.stringContaining('is malformed (corrupted)'),
    });
  });

  it('round-trips the racy window the entries were recorded under', async () => {
    const file = join(scratch(), 'c.json');
    await saveStatCache(file, { ...sample('/r'), racyWindowNs: 20_000_000n });
    expect((await loadStatCache(file, '/r')).cache?.racyWindowNs).toBe(20_000_000n);
  });

  it('loads a cache written without a racy window (older writers) with none', async () => {
    const file = join(scratch(), 'c.json');
    await saveStatCache(file, sample('/r'));
    expect(readFileSync(file, 'utf8')).not.toContain('racyWindowNs');
    const loaded = await loadStatCache(file, '/r');
    expect(loaded.cache).toBeDefined();
    expect(loaded.cache?.racyWindowNs).toBeUndefined();
  });

  it('refuses a racy window that is not a decimal number as corrupted', async () => {
    const file = join(scratch(), 'c.json');
    await saveStatCache(file, { ...sample('/r'), racyWindowNs: 5n });
    writeFileSync(file, readFileSync(file, 'utf8').replace('"racyWindowNs":"5"', '"racyWindowNs":-5'));
    expect(await loadStatCache(file, '/r')).toEqual({
      cache: undefined,
      reason: 'its header is incomplete (corrupted)',
    });
  });

  it('reports that there is none yet when the file is missing', async () => {
    const loaded = await loadStatCache(join(scratch(), 'none.json'), '/x');
    expect(loaded).toEqual({ cache: undefined, reason: 'there is none yet' });
  });

  it('refuses a cache written for another root, naming both', async () => {
    const file = join(scratch(), 'c.json');
    await saveStatCache(file, sample('/one'));
    expect(await loadStatCache(file, '/two')).toEqual({
      cache: undefined,
      reason: 'it was written for /one, not /two',
    });
  });

  it('refuses another version', async () => {
    const file = join(scratch(), 'c.json');
    await saveStatCache(file, sample('/r'));
    const data = JSON.parse(readFileSync(file, 'utf8')) as { version: number };
    data.version = STAT_CACHE_VERSION + 1;
    writeFileSync(file, JSON.stringify(data));
    expect((await loadStatCache(file, '/r')).cache).toBeUndefined();
    expect(await loadStatCache(file, '/r')).toMatchObject({
      reason: `its version ${STAT_CACHE_VERSION + 1} is not ${STAT_CACHE_VERSION}`,
    });
  });

  it('refuses a truncated file as corrupted', async () => {
    const file = join(scratch(), 'c.json');
    await saveStatCache(file, sample('/r'));
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 40));
    expect(await loadStatCache(file, '/r')).toEqual({
      cache: undefined,
      reason: 'it is not valid JSON (corrupted)',
    });
  });

  it('refuses a file entry with a malformed hash, quoting it', async () => {
    const file = join(scratch(), 'c.json');
    await saveStatCache(file, sample('/r'));
    writeFileSync(file, readFileSync(file, 'utf8').replace(`,"${HASH}"]`, ',"xyz"]'));
    const loaded = await loadStatCache(file, '/r');
    expect(loaded.cache).toBeUndefined();
    expect(loaded).toMatchObject({ reason: expect.stringContaining('file entry ["a.txt"') });
    expect(loaded).toMatchObject({ reason: expect.stringContaining('is malformed (corrupted)') });
  });

  it('refuses JSON that is not a stat cache', async () => {
    const file = join(scratch(), 'c.json');
    writeFileSync(file, '{"hello": 1}');
    expect(await loadStatCache(file, '/r')).toEqual({
      cache: undefined,
      reason: 'it is not a stat cache file',
    });
  });

  it('names the cache file after the root and the instance', () => {
    const a = statCachePath('/c', '/tree');
    expect(a).toMatch(/^\/c\/[0-9a-f]{32}\.json$/);
    expect(statCachePath('/c', '/other')).not.toBe(a);
    expect(statCachePath('/c', '/tree', 'remote-1')).not.toBe(a);
    expect(statCachePath('/c', '/tree')).toBe(a);
  });
});

describe('stat comparison', () => {
  it('sees a change in any compared field', async () => {
    const file = join(scratch(), 'f');
    writeFileSync(file, 'x');
    const stat = fileStatOf(await lstat(file, { bigint: true }));
    expect(sameStat(stat, { ...stat })).toBe(true);
    for (const field of ['size', 'mtimeNs', 'ctimeNs', 'ino', 'mode'] as const) {
      expect(sameStat(stat, { ...stat, [field]: `${stat[field]}1` })).toBe(false);
    }
  });

  it('gives a stat key equal only for the same five fields, and reads its size and times', async () => {
    const file = join(scratch(), 'k');
    writeFileSync(file, 'xyz');
    const stats = await lstat(file, { bigint: true });
    const key = statKeyOf(stats);
    const fields = fileStatOf(stats);
    expect(key).toBe(statKeyFrom(fields));
    expect(key.split(':')[0]).toBe('3');
    for (const field of ['size', 'mtimeNs', 'ctimeNs', 'ino', 'mode'] as const) {
      expect(statKeyFrom({ ...fields, [field]: `${fields[field]}1` })).not.toBe(key);
    }
    const scan = stats.mtimeNs > stats.ctimeNs ? stats.mtimeNs : stats.ctimeNs;
    expect(isRacy(key, scan, 0n)).toBe(isRacy(fields, scan, 0n));
    expect(isRacy(key, scan + 2n, 1n)).toBe(false);
    expect(racyWindowFor([key])).toBe(racyWindowFor([fields]));
  });

  it('treats files changed within the window before the scan, or after it, as racy', () => {
    const scan = 10_000_000_000n;
    const window = 1_000_000_000n;
    const at = (mtimeNs: bigint, ctimeNs = mtimeNs) => ({
      size: '1',
      mtimeNs: String(mtimeNs),
      ctimeNs: String(ctimeNs),
      ino: '1',
      mode: '1',
    });
    expect(isRacy(at(scan - window - 1n), scan, window)).toBe(false);
    expect(isRacy(at(scan - window), scan, window)).toBe(true);
    expect(isRacy(at(scan + 5n), scan, window)).toBe(true);
    expect(isRacy(at(1n, scan), scan, window)).toBe(true);
  });
});

describe('racy window from the timestamps a filesystem gives', () => {
  const stat = (mtimeNs: bigint, ctimeNs = mtimeNs) => ({
    size: '1',
    mtimeNs: String(mtimeNs),
    ctimeNs: String(ctimeNs),
    ino: '1',
    mode: '1',
  });
  const second = 1_000_000_000n;

  it('is 20 ms when any timestamp has sub-millisecond digits (ext4, xfs, btrfs, tmpfs)', () => {
    expect(racyWindowFor([stat(1_700_000_000n * second), stat(1_700_000_001n * second + 123_456_789n)])).toBe(
      20_000_000n,
    );
    expect(racyWindowFor([stat(5n * second, 5n * second + 7n)])).toBe(20_000_000n);
  });

  it('is 2 s when every timestamp is a whole second (ext3, HFS+, FAT)', () => {
    expect(racyWindowFor([stat(1_700_000_000n * second), stat(1_700_000_002n * second)])).toBe(2n * second);
  });

  it('is twice the coarsest granularity every timestamp shares, at least 20 ms', () => {
    expect(racyWindowFor([stat(1_700_000_000_100_000_000n), stat(1_700_000_000_300_000_000n)])).toBe(
      200_000_000n,
    );
    expect(racyWindowFor([stat(1_700_000_000_010_000_000n)])).toBe(20_000_000n);
    expect(racyWindowFor([stat(1_700_000_000_001_000_000n)])).toBe(20_000_000n);
  });

  it('is 2 s with no files (nothing depends on it)', () => {
    expect(racyWindowFor([])).toBe(2n * second);
  });
});

describe('wallClockNs', () => {
  it('reads the clock file timestamps come from, however far the monotonic clock has drifted', () => {
    // On a VM whose wall clock was slewed, the monotonic clock drifted 5 ms a second from it:
    // as here, 300 ms into a process.
    const now = performance.now();
    const spy = vi.spyOn(performance, 'now').mockReturnValue(now - 300);
    try {
      const before = BigInt(Date.now()) * 1_000_000n;
      const file = join(scratch(), 'f');
      writeFileSync(file, 'x');
      const clock = wallClockNs();
      const after = BigInt(Date.now()) * 1_000_000n;
      expect(clock >= before && clock <= after).toBe(true);
      // A file written before the reading has a ctime at most the rounding (1 ms) beyond it.
      expect(lstatSync(file, { bigint: true }).ctimeNs <= clock + 1_000_000n).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });
});
