import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import type { PersistLayout } from './layout.js';
import { type IndexManifest, formatPackManifest, parseIndexManifest, parsePackManifest } from './manifest.js';

/**
 * What persistence remembers between restore (main step) and save (post step), kept in
 * files under `<cacheDir>/.persist/` rather than in globals or action state, so the CLI and
 * a second save in the same job see it too.
 */
export interface PersistState {
  prefix: string;
  /** Key of the index last restored or saved. */
  indexKey?: string;
  /** That index: the packs its content is known to be stored in. */
  index?: IndexManifest;
}

const STATE_FILE = 'state.json';
const PACKS_DIR = 'packs';

/**
 * Reads the state for `prefix`. A missing or unreadable file, or one written for another
 * prefix, gives an empty state (the next save then writes everything).
 */
export async function readState(
  layout: PersistLayout,
  prefix: string,
  logger: Logger,
): Promise<PersistState> {
  const path = join(layout.stateDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return { prefix };
  }
  try {
    const raw = JSON.parse(text) as { prefix?: unknown; indexKey?: unknown; index?: unknown };
    if (raw.prefix !== prefix) return { prefix };
    const index = raw.index === undefined ? undefined : parseIndexManifest(JSON.stringify(raw.index), path);
    const indexKey = typeof raw.indexKey === 'string' ? raw.indexKey : undefined;
    return { prefix, indexKey, index };
  } catch (err) {
    logger.warning(`ignoring unreadable persistence state ${path}: ${(err as Error).message}`);
    return { prefix };
  }
}

/** Writes the state atomically (temp file, rename). */
export async function writeState(layout: PersistLayout, state: PersistState): Promise<void> {
  await writeAtomic(join(layout.stateDir, STATE_FILE), `${JSON.stringify(state, null, 1)}\n`);
}

/** The blob hashes of a pack, if this cache dir has seen the pack (restored or saved it). */
export async function readPackHashes(layout: PersistLayout, key: string): Promise<string[] | undefined> {
  const path = packHashesPath(layout, key);
  try {
    return parsePackManifest(await readFile(path, 'utf8'), path);
  } catch {
    return undefined;
  }
}

/** Remembers the blob hashes of a pack. */
export async function writePackHashes(
  layout: PersistLayout,
  key: string,
  hashes: readonly string[],
): Promise<void> {
  await writeAtomic(packHashesPath(layout, key), formatPackManifest(hashes));
}

/** Forgets the hash lists of packs not in `keep`. */
export async function prunePackHashes(layout: PersistLayout, keep: readonly string[]): Promise<void> {
  const dir = join(layout.stateDir, PACKS_DIR);
  const wanted = new Set(keep.map((key) => fileNameOf(key)));
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names.filter((n) => !wanted.has(n)).map((n) => unlink(join(dir, n)).catch(() => undefined)),
  );
}

/**
 * The name a pack of `key` has in the local store's packs (pack-files.ts). Keys may hold any
 * character but a comma (the prefix is the user's), so files are named by a hash of the key.
 */
export function localPackName(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

function fileNameOf(key: string): string {
  return `${localPackName(key)}.txt`;
}

function packHashesPath(layout: PersistLayout, key: string): string {
  return join(layout.stateDir, PACKS_DIR, fileNameOf(key));
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}
