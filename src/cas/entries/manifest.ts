import { createHash } from 'node:crypto';
import { isAbsolute, posix } from 'node:path';
import { CasError } from '../../errors.js';
import type { Directory } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { CachePath } from './paths.js';

// An actions/cache-style entry is one tree: entry `i` (a directory, file or symlink) holds the
// i-th recorded path, and a manifest says what the entry is. A restore whose patterns differ
// from the saved ones is a miss, as the version check of actions/cache makes it.

/** The manifest of entries saved by this version. */
export const ENTRY_MANIFEST = 'entry.json';
/** The manifest of entries saved before patterns were resolved: the paths as written. */
export const LEGACY_MANIFEST = 'paths.json';

/** What `entry.json` holds. */
export interface EntryManifest {
  version: 2;
  /** The key the entry was saved under: what `matched-key` says when a prefix finds it. */
  key: string;
  /** The `path` input's lines as written (the version check compares these). */
  patterns: string[];
  /** What the patterns matched, entry `i` being `paths[i]`. */
  paths: CachePath[];
  /** When the save happened (ms since the epoch): the newest save wins a prefix match. */
  savedAtMs: number;
}

/** A manifest as read, either version. */
export interface EntryInfo {
  /** Undefined for a legacy entry: the ref it was found under names it. */
  key?: string;
  patterns: string[];
  paths: CachePath[];
  /** Undefined for a legacy entry. */
  savedAtMs?: number;
  legacy: boolean;
}

/** The bytes of `entry.json`. */
export function encodeManifest(manifest: EntryManifest): Buffer {
  return Buffer.from(JSON.stringify(manifest));
}

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');

/**
 * A legacy entry holds path `i` as written, resolved against the working directory (the
 * workspace) with no `~` expansion and no globbing: such patterns never captured what they
 * meant, so they are not taken as the same patterns (the entry misses).
 */
function legacyEntry(paths: string[]): EntryInfo {
  const normal = paths.map((p) => posix.normalize(p).replace(/(.)\/+$/, '$1'));
  const meant = normal.every((p) => !/[*?[]/.test(p) && !/^(~|!|\.\.(\/|$))/.test(p));
  return {
    patterns: meant ? paths : [],
    paths: normal.map((p) =>
      isAbsolute(p) ? { base: 'absolute', path: p } : { base: 'workspace', path: p },
    ),
    legacy: true,
  };
}

/**
 * Parses a manifest file of `root` (`name` is ENTRY_MANIFEST or LEGACY_MANIFEST).
 * Throws CasError('corrupt-data') naming what is wrong.
 */
export function parseManifest(name: string, data: Buffer, root: string): EntryInfo {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new CasError('corrupt-data', `the ${name} of cache entry ${root} is not JSON`, { cause: err });
  }
  if (name === LEGACY_MANIFEST) {
    if (!isStringArray(value))
      throw new CasError('corrupt-data', `the ${name} of cache entry ${root} is not a list`);
    return legacyEntry(value);
  }
  const m = value as Partial<EntryManifest>;
  const pathsOk =
    Array.isArray(m.paths) &&
    m.paths.every((p) => typeof p === 'object' && p !== null && typeof p.path === 'string');
  if (m.version !== 2 || typeof m.key !== 'string' || !isStringArray(m.patterns) || !pathsOk) {
    throw new CasError(
      'corrupt-data',
      `the ${name} of cache entry ${root} is not a version 2 manifest (key, patterns, paths)`,
    );
  }
  return {
    key: m.key,
    patterns: m.patterns,
    paths: m.paths!,
    savedAtMs: typeof m.savedAtMs === 'number' ? m.savedAtMs : undefined,
    legacy: false,
  };
}

/** The manifest node of an entry's root Directory, or undefined when it has none. */
export function manifestNode(root: Directory): Directory['files'][number] | undefined {
  return (
    root.files.find((f) => f.name === ENTRY_MANIFEST) ?? root.files.find((f) => f.name === LEGACY_MANIFEST)
  );
}

/** True when `a` and `b` are the same pattern lines in the same order. */
export function samePatterns(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

/**
 * What an entry holds, without when it was saved: two captures of the same files give the
 * same id, although their roots differ (the manifest records the save time).
 */
export function entryContentId(root: Directory, entry: Pick<EntryInfo, 'patterns' | 'paths'>): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ patterns: entry.patterns, paths: entry.paths }));
  const isManifest = (name: string): boolean => name === ENTRY_MANIFEST || name === LEGACY_MANIFEST;
  for (const f of root.files) {
    if (!isManifest(f.name))
      hash.update(`\nf ${f.name} ${f.digest?.hash}/${f.digest?.sizeBytes} ${f.isExecutable}`);
  }
  for (const d of root.directories) hash.update(`\nd ${d.name} ${d.digest?.hash}/${d.digest?.sizeBytes}`);
  for (const s of root.symlinks) hash.update(`\nl ${s.name} ${s.target}`);
  return hash.digest('hex');
}
