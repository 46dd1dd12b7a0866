import { createHash } from 'node:crypto';
import { CasError } from '../../errors.js';

/** One pack as an index lists it: the blob hashes themselves live in the pack. */
export interface PackRef {
  key: string;
  blobs: number;
  /** Bytes of the blobs (uncompressed). */
  bytes: number;
  /**
   * The pack travels inside the index entry (`packs/` beside the manifest), not as an entry
   * of its own: small packs cost no requests of their own to save or restore.
   */
  inline?: true;
  /**
   * With `inline`: the key of the index entry whose `packs/` holds the pack, when a save put it
   * there to stay (not carried again by later indexes, which list it under this key). Without
   * it, an inline pack travels in the listing index itself and again in each later one.
   */
  carrier?: string;
}

/**
 * Version of the index manifests this code writes: 3 may list packs held by an earlier index
 * entry (PackRef.carrier), which version-2 readers would look for in the wrong entry. Version
 * 2 (packs of format 2: one data file and its index, pack-files.ts) and 1 (packs of one file
 * per blob) are still read; their packs restore as they are, those of version 1 are
 * rewritten by the next rollover.
 */
export const INDEX_VERSION = 3;

/** The JSON manifest stored in every index entry. */
export interface IndexManifest {
  version: 1 | 2 | 3;
  /** ISO time of the save. */
  created: string;
  packs: PackRef[];
  /** The small files (refs, action cache, assets) stored beside the manifest. */
  files: { count: number; bytes: number; digest: string };
}

/** A pack to write: its content-derived key and the blobs it holds, sorted by hash. */
export interface PackPlan extends PackRef {
  hashes: string[];
}

/**
 * Key of the pack holding exactly `sortedHashes`: the prefix plus a SHA-256 of the list,
 * shortened to 40 hex digits (160 bits; collisions are not a practical concern).
 */
export function packKey(prefix: string, sortedHashes: readonly string[]): string {
  const hash = createHash('sha256').update(sortedHashes.join('\n')).digest('hex');
  return `${prefix}-pack-${hash.slice(0, 40)}`;
}

/**
 * Splits blobs into packs of at most `maxPackBytes` (a blob larger than that gets a pack of
 * its own). Hashes are sorted first so the same blobs always give the same packs and keys.
 */
export function planPacks(
  prefix: string,
  blobs: ReadonlyMap<string, number>,
  maxPackBytes: number,
): PackPlan[] {
  const plans: PackPlan[] = [];
  let hashes: string[] = [];
  let bytes = 0;
  const flush = (): void => {
    if (hashes.length === 0) return;
    plans.push({ key: packKey(prefix, hashes), blobs: hashes.length, bytes, hashes });
    hashes = [];
    bytes = 0;
  };
  for (const hash of [...blobs.keys()].sort()) {
    const size = blobs.get(hash) ?? 0;
    if (hashes.length > 0 && bytes + size > maxPackBytes) flush();
    hashes.push(hash);
    bytes += size;
  }
  flush();
  return plans;
}

/** True when two pack lists name the same packs in the same order. */
export function samePacks(a: readonly PackRef[], b: readonly PackRef[]): boolean {
  return a.length === b.length && a.every((pack, i) => pack.key === b[i].key);
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * Parses and checks an index manifest. Throws CasError('corrupt-data') naming `source` and
 * the first field that is wrong.
 */
export function parseIndexManifest(text: string, source: string): IndexManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CasError('corrupt-data', `index manifest ${source} is not JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const fail = (what: string): never => {
    throw new CasError('corrupt-data', `index manifest ${source}: ${what}`);
  };
  if (typeof value !== 'object' || value === null) return fail('expected a JSON object');
  const record = value as Record<string, unknown>;
  if (record.version !== 1 && record.version !== 2 && record.version !== INDEX_VERSION)
    fail(`unsupported version ${JSON.stringify(record.version)}, expected 1 to ${INDEX_VERSION}`);
  if (typeof record.created !== 'string') fail('"created" must be a string');
  if (!Array.isArray(record.packs)) return fail('"packs" must be an array');
  const packs = record.packs.map((pack: unknown, i): PackRef => {
    const p = (typeof pack === 'object' && pack !== null ? pack : {}) as Record<string, unknown>;
    if (typeof p.key !== 'string' || p.key === '') fail(`packs[${i}].key must be a non-empty string`);
    if (!isCount(p.blobs) || !isCount(p.bytes))
      fail(`packs[${i}] needs non-negative integer "blobs" and "bytes"`);
    if (p.inline !== undefined && p.inline !== true) fail(`packs[${i}].inline must be true when given`);
    if (p.carrier !== undefined && (typeof p.carrier !== 'string' || p.carrier === '' || p.inline !== true))
      fail(`packs[${i}].carrier must be a non-empty string, and only with "inline": true`);
    const ref: PackRef = { key: p.key as string, blobs: p.blobs as number, bytes: p.bytes as number };
    if (p.inline === true) ref.inline = true;
    if (typeof p.carrier === 'string') ref.carrier = p.carrier;
    return ref;
  });
  const files = (typeof record.files === 'object' && record.files !== null ? record.files : {}) as Record<
    string,
    unknown
  >;
  if (!isCount(files.count) || !isCount(files.bytes) || typeof files.digest !== 'string')
    fail('"files" needs "count", "bytes" and "digest"');
  return {
    version: record.version as 1 | 2 | 3,
    created: record.created as string,
    packs,
    files: { count: files.count as number, bytes: files.bytes as number, digest: files.digest as string },
  };
}

const HASH = /^[0-9a-f]{64}$/;

/** Parses a pack manifest (one hash per line). Throws CasError('corrupt-data') on a bad line. */
export function parsePackManifest(text: string, source: string): string[] {
  const hashes = text.split('\n').filter((line) => line !== '');
  const bad = hashes.findIndex((line) => !HASH.test(line));
  if (bad >= 0)
    throw new CasError(
      'corrupt-data',
      `pack manifest ${source}, line ${bad + 1}: ${JSON.stringify(hashes[bad].slice(0, 80))} is not a SHA-256 hex digest`,
    );
  return hashes;
}

/** Serialises a pack manifest. */
export function formatPackManifest(hashes: readonly string[]): string {
  return hashes.length === 0 ? '' : `${hashes.join('\n')}\n`;
}
