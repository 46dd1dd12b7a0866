import { describe, expect, it } from 'vitest';
import { problemOf } from '../../src/action/persist/capture.js';
import {
  packKey,
  parseIndexManifest,
  parsePackManifest,
  planPacks,
  samePacks,
} from '../../src/action/persist/manifest.js';
import { indexKey, planSave } from '../../src/action/persist/plan.js';

const h = (n: number): string => n.toString(16).padStart(64, '0');
// maxInlineBytes 0: these cases are about packs of their own; inline packs have their own cases.
const limits = { maxPackBytes: 1e9, maxPacks: 8, maxDeadRatio: 0.5, maxInlineBytes: 0 };

describe('pack planning', () => {
  it('derives the same key from the same blobs whatever their order', () => {
    const a = planPacks(
      'p',
      new Map([
        [h(2), 1],
        [h(1), 1],
      ]),
      1e9,
    );
    const b = planPacks(
      'p',
      new Map([
        [h(1), 1],
        [h(2), 1],
      ]),
      1e9,
    );
    expect(a[0].key).toBe(b[0].key);
    expect(a[0].key).toBe(packKey('p', [h(1), h(2)]));
    expect(a[0].key).toMatch(/^p-pack-[0-9a-f]{40}$/);
  });

  it('splits at maxPackBytes and gives an oversized blob a pack of its own', () => {
    const packs = planPacks(
      'p',
      new Map([
        [h(1), 60],
        [h(2), 60],
        [h(3), 500],
        [h(4), 10],
      ]),
      100,
    );
    expect(packs.map((p) => p.hashes)).toEqual([[h(1)], [h(2)], [h(3)], [h(4)]]);
    expect(
      planPacks(
        'p',
        new Map([
          [h(1), 40],
          [h(2), 40],
          [h(3), 40],
        ]),
        100,
      ).map((p) => p.blobs),
    ).toEqual([2, 1]);
  });

  it('plans only blobs that no base pack holds, appended to the base list', () => {
    const base = planPacks(
      'p',
      new Map([
        [h(1), 10],
        [h(2), 10],
      ]),
      1e9,
    );
    const plan = planSave(
      'p',
      base,
      new Map([
        [h(1), 10],
        [h(2), 10],
        [h(3), 10],
      ]),
      limits,
    );
    expect(plan.compact).toBe(false);
    expect(plan.write.map((p) => p.hashes)).toEqual([[h(3)]]);
    expect(plan.packs.map((p) => p.key)).toEqual([base[0].key, plan.write[0].key]);
  });

  it('plans nothing when every local blob is in a base pack', () => {
    const base = planPacks('p', new Map([[h(1), 10]]), 1e9);
    const plan = planSave('p', base, new Map([[h(1), 10]]), limits);
    expect(plan.write).toEqual([]);
    expect(samePacks(plan.packs, base)).toBe(true);
  });

  it('rolls over when more than half of the listed bytes are gone', () => {
    const base = planPacks(
      'p',
      new Map([
        [h(1), 40],
        [h(2), 60],
      ]),
      1e9,
    );
    const plan = planSave(
      'p',
      base,
      new Map([
        [h(1), 40],
        [h(9), 5],
      ]),
      limits,
    );
    expect(plan).toMatchObject({ compact: true, deadBytes: 60 });
    expect(plan.write.map((p) => p.hashes)).toEqual([[h(1), h(9)]]);
  });

  it('does not roll over at exactly half gone', () => {
    const base = planPacks(
      'p',
      new Map([
        [h(1), 50],
        [h(2), 50],
      ]),
      1e9,
    );
    expect(planSave('p', base, new Map([[h(1), 50]]), limits).compact).toBe(false);
  });

  it('rolls over when the list would exceed maxPacks', () => {
    const base = [1, 2].map((n) => planPacks('p', new Map([[h(n), 10]]), 1e9)[0]);
    const plan = planSave(
      'p',
      base,
      new Map([
        [h(1), 10],
        [h(2), 10],
        [h(3), 10],
      ]),
      { ...limits, maxPacks: 2 },
    );
    expect(plan.compact).toBe(true);
    expect(plan.packs).toHaveLength(1);
  });

  it('makes index keys that sort by run and time under one prefix', () => {
    expect(indexKey('casd', '12', '3', 1700)).toBe('casd-index-12-3-1700');
  });
});

describe('packs held by the new index entry (carrier)', () => {
  const blobs = (from: number, to: number, size = 100): Map<string, number> =>
    new Map(Array.from({ length: to - from }, (_, i) => [h(from + i), size]));
  const carrying = { ...limits, maxPackBytes: 300, maxCarriedBytes: 1000 };

  it('moves new packs into the index entry up to maxCarriedBytes; the rest stay entries', () => {
    const plan = planSave('p', [], blobs(0, 12), carrying, [], 'p-index-1');
    expect(plan.carried.map((p) => p.bytes)).toEqual([300, 300, 300]);
    expect(plan.carried.every((p) => p.inline && p.carrier === 'p-index-1')).toBe(true);
    expect(plan.write.map((p) => p.bytes)).toEqual([300]);
    expect(plan.packs.map((p) => p.carrier)).toEqual(['p-index-1', 'p-index-1', 'p-index-1', undefined]);
  });

  it('lists the packs an earlier index holds as they are, and carries none again', () => {
    const first = planSave('p', [], blobs(0, 3), carrying, [], 'p-index-1');
    const base = first.carried;
    const plan = planSave('p', base, blobs(0, 4), carrying, [], 'p-index-2');
    expect(plan.packs).toEqual([
      { key: base[0].key, blobs: 3, bytes: 300, inline: true, carrier: 'p-index-1' },
      expect.objectContaining({ blobs: 1, inline: true, carrier: 'p-index-2' }),
    ]);
    expect(plan.carried.map((p) => p.blobs)).toEqual([1]);
    expect(plan.inline).toEqual([]);
  });

  it('rolls over into packs the new index holds', () => {
    const first = planSave('p', [], blobs(0, 3), carrying, [], 'p-index-1');
    // Two of the three listed blobs are gone: more than half the listed bytes.
    const plan = planSave('p', first.carried, blobs(2, 4), carrying, [], 'p-index-2');
    expect(plan.compact).toBe(true);
    expect(plan.packs).toEqual([expect.objectContaining({ blobs: 2, carrier: 'p-index-2' })]);
    expect(plan.write).toEqual([]);
  });

  it('carries nothing without an index key or with maxCarriedBytes 0', () => {
    expect(planSave('p', [], blobs(0, 3), carrying).carried).toEqual([]);
    expect(planSave('p', [], blobs(0, 3), { ...carrying, maxCarriedBytes: 0 }, [], 'k').write).toHaveLength(
      1,
    );
  });
});

describe('manifests', () => {
  const good = {
    version: 1,
    created: 'now',
    packs: [{ key: 'k', blobs: 1, bytes: 2 }],
    files: { count: 0, bytes: 0, digest: 'd' },
  };

  it('parses a valid index manifest', () => {
    expect(parseIndexManifest(JSON.stringify(good), 'src')).toEqual(good);
  });

  it.each([
    ['[', 'index manifest src is not JSON'],
    ['"x"', 'index manifest src: expected a JSON object'],
    [JSON.stringify({ ...good, version: 4 }), 'index manifest src: unsupported version 4, expected 1 to 3'],
    [
      JSON.stringify({ ...good, packs: [{ key: 'k', blobs: 1, bytes: 2, carrier: 'i' }] }),
      'packs[0].carrier must be a non-empty string, and only with "inline": true',
    ],
    [JSON.stringify({ ...good, packs: {} }), 'index manifest src: "packs" must be an array'],
    [
      JSON.stringify({ ...good, packs: [{ key: '', blobs: 1, bytes: 1 }] }),
      'packs[0].key must be a non-empty string',
    ],
    [
      JSON.stringify({ ...good, packs: [{ key: 'k', blobs: -1, bytes: 1 }] }),
      'packs[0] needs non-negative integer',
    ],
    [JSON.stringify({ ...good, files: {} }), '"files" needs "count", "bytes" and "digest"'],
  ])('rejects the index manifest %s', (text, message) => {
    expect(() => parseIndexManifest(text, 'src')).toThrow(message);
  });

  it('rejects a pack manifest line that is not a hash, naming the line', () => {
    expect(() => parsePackManifest(`${h(1)}\nnope\n`, 'pk')).toThrow(
      'pack manifest pk, line 2: "nope" is not a SHA-256 hex digest',
    );
    expect(parsePackManifest(`${h(1)}\n${h(2)}\n`, 'pk')).toEqual([h(1), h(2)]);
  });
});

describe('reading @actions/core output', () => {
  it('takes warnings and errors, unescaping command data', () => {
    expect(problemOf('::warning::Failed to save: a%0Ab%25')).toBe('Failed to save: a\nb%');
    expect(problemOf('::error file=x::boom')).toBe('boom');
  });

  it('takes the plain "Failed to save" line of a reserve conflict and ignores other output', () => {
    expect(problemOf('Failed to save: Unable to reserve cache')).toBe(
      'Failed to save: Unable to reserve cache',
    );
    expect(problemOf('Cache saved successfully')).toBeUndefined();
    expect(problemOf('::debug::Failed to save')).toBeUndefined();
  });
});
