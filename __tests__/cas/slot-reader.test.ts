import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SlotReader, SlowReads } from '../../src/cas/capture/slot-reader.js';

const dir = mkdtempSync(join(tmpdir(), 'slot-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, data: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

describe('SlotReader', () => {
  const small = file('small', Buffer.from('hello slot'));
  const exact = file('exact', Buffer.alloc(64, 7));
  const empty = file('empty', Buffer.alloc(0));

  it('reads a file that fits into the slot on the main thread, and says "large" for one that fills it', async () => {
    // A bound no read reaches, however loaded the machine: the default 2 ms is a timing.
    const reader = new SlotReader(60_000_000_000n);
    const slot = Buffer.alloc(64);
    expect((await reader.read(small, slot)).toString()).toBe('hello slot');
    expect(await reader.read(exact, slot)).toBe('large');
    expect((await reader.read(empty, slot)) as Buffer).toHaveLength(0);
    expect(reader.onMainThread).toBe(true);
  });

  it('moves to the thread pool for good after slow reads in a row and reads the same bytes there', async () => {
    const reader = new SlotReader(0n);
    const slot = Buffer.alloc(64);
    // One slow read is not enough: on a freshly written tree one in ~1,000 takes over 2 ms.
    expect((await reader.read(small, slot)).toString()).toBe('hello slot');
    expect(reader.onMainThread).toBe(true);
    for (let i = 0; i < 3; i++) await reader.read(small, slot);
    expect(reader.onMainThread).toBe(false);
    expect((await reader.read(small, slot)).toString()).toBe('hello slot');
    expect(await reader.read(exact, slot)).toBe('large');
    expect((await reader.read(empty, slot)) as Buffer).toHaveLength(0);
  });

  it('calls reads slow when they are slow more than now and then, not at one outlier', () => {
    const fast = 100_000n;
    const slow = 5_000_000n;
    const outliers = new SlowReads(2_000_000n);
    // An outlier every 10 reads, and two in a row once, over 1,000 reads: never slow for good.
    for (let i = 0; i < 1000; i++)
      expect(outliers.record(i % 10 === 0 || i === 501 ? slow : fast)).toBe(false);
    const cold = new SlowReads(2_000_000n);
    const verdicts = Array.from({ length: 4 }, () => cold.record(slow));
    expect(verdicts).toEqual([false, false, false, true]);
    const half = new SlowReads(2_000_000n);
    expect(Array.from({ length: 20 }, (_, i) => half.record(i % 2 === 0 ? slow : fast))).toContain(true);
  });

  it('rejects with the errno of a file that is gone, on either path', async () => {
    for (const reader of [new SlotReader(), new SlotReader(0n)]) {
      await reader.read(small, Buffer.alloc(64));
      await expect(reader.read(join(dir, 'gone'), Buffer.alloc(64))).rejects.toMatchObject({
        code: 'ENOENT',
      });
    }
  });
});
