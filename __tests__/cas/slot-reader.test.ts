import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SlotReader } from '../../src/cas/capture/slot-reader.js';

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

  it('moves to the thread pool for good after a slow read and reads the same bytes there', async () => {
    const reader = new SlotReader(0n);
    const slot = Buffer.alloc(64);
    expect((await reader.read(small, slot)).toString()).toBe('hello slot');
    expect(reader.onMainThread).toBe(false);
    expect((await reader.read(small, slot)).toString()).toBe('hello slot');
    expect(await reader.read(exact, slot)).toBe('large');
    expect((await reader.read(empty, slot)) as Buffer).toHaveLength(0);
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
