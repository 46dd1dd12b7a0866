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
    [JSON.stringify({ ...good, version: 3 }), 'index manifest src: unsupported version 3, expected 1 or 2'],
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
