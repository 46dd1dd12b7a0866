import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RefStore } from '../../cas/store/refs.js';
import { persistLayout } from './layout.js';
import { validatePrefix } from './plan.js';
import { stageIndex } from './restore.js';
import { Session } from './session.js';
import type { PersistRestoreOptions } from './types.js';

/** What withPersistedIndex returns: the body's value and what reading the index cost. */
export interface PersistedIndexRead<T> {
  value: T;
  /** Key of the index read; undefined on a miss or failure. */
  indexKey?: string;
  /** Bytes of the small files that came with the index (no pack is downloaded). */
  bytesDownloaded: number;
  warnings: string[];
}

/**
 * For lookup-only: runs `body` with the refs of the index that restorePersisted would restore
 * (undefined on a miss or failure), restoring nothing. Why the index is downloaded: the cache
 * service answers a lookup with the matching entry's key alone, and an index key names a save,
 * not the keys it holds; the refs travel inside the index entry (with the action cache and
 * asset files, never a blob). So the newest index entry is downloaded into the staging area,
 * `body` reads its refs there, and the staging area is removed: no pack is downloaded and
 * nothing is written to the cache directory.
 *
 * Service trouble is a warning (a CasError with fail-on-cache-error (`policy`)); `body`'s errors pass through.
 */
export async function withPersistedIndex<T>(
  options: PersistRestoreOptions,
  body: (refs: RefStore | undefined) => Promise<T>,
): Promise<PersistedIndexRead<T>> {
  validatePrefix(options.prefix);
  const session = new Session(options);
  const layout = persistLayout(options.cacheDir);
  try {
    let staged: Awaited<ReturnType<typeof stageIndex>>;
    try {
      staged = await stageIndex(session, layout, options.prefix);
    } catch (err) {
      session.failed('reading the cache index', err);
    }
    // The staged files keep the cache directory's layout, so a RefStore reads their refs.
    const refs = staged ? new RefStore(join(layout.indexStaging, 'files')) : undefined;
    return {
      value: await body(refs),
      indexKey: staged?.key,
      bytesDownloaded: staged?.index.files.bytes ?? 0,
      warnings: session.warnings,
    };
  } finally {
    await rm(layout.stagingRoot, { recursive: true, force: true }).catch(() => undefined);
  }
}
