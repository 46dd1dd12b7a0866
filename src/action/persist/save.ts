import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { entryExists, saveEntry } from './entries.js';
import { digestSmallFiles, stagePackBlobs, stageSmallFiles } from './files.js';
import {
  INDEX_MANIFEST,
  PACK_MANIFEST,
  type PersistLayout,
  listSmallFiles,
  persistLayout,
  scanBlobs,
} from './layout.js';
import {
  type IndexManifest,
  type PackPlan,
  type PackRef,
  formatPackManifest,
  samePacks,
} from './manifest.js';
import { indexKey, planSave, validatePrefix } from './plan.js';
import { readOnlyReason } from './cache-mode.js';
import { Session } from './session.js';
import {
  type PersistState,
  prunePackHashes,
  readPackHashes,
  readState,
  writePackHashes,
  writeState,
} from './state.js';
import { PERSIST_DEFAULTS } from './options.js';
import type { PersistSaveOptions, PersistSaveResult } from './types.js';

/**
 * Saves the cache directory to the Actions cache as content-keyed packs plus one small
 * index entry. Only blobs that no pack of the last restored or saved index holds are
 * uploaded, in one new pack (a few above `maxPackBytes`); a pack whose key exists is
 * skipped; an unchanged index is not saved again. Too many packs, or too many bytes gone
 * locally, roll everything over into fresh packs. casd must not be running.
 *
 * Cache-service trouble is retried a little, then returned as warnings; with fail-on-cache-error (`policy`)
 * it throws a CasError instead. Returns counters for the summary.
 */
export async function savePersisted(options: PersistSaveOptions): Promise<PersistSaveResult> {
  validatePrefix(options.prefix);
  const session = new Session(options);
  const layout = persistLayout(options.cacheDir);
  const result: PersistSaveResult = {
    packsUploaded: 0,
    packsSkipped: 0,
    blobsPacked: 0,
    bytesUploaded: 0,
    compacted: false,
    durationMs: 0,
    warnings: session.warnings,
  };
  const readOnly = readOnlyReason(process.env);
  if (readOnly) {
    // Why before any request: a read-only token's writes are refused one by one, each a warning.
    result.readOnly = readOnly;
    return result;
  }
  try {
    await rm(layout.stagingRoot, { recursive: true, force: true });
    const state = await readState(layout, options.prefix, session.logger);
    const base = await knownPacks(layout, state, session);
    const local = await scanBlobs(layout.objectsDir);
    const plan = planSave(options.prefix, base, local, {
      maxPackBytes: options.maxPackBytes ?? PERSIST_DEFAULTS.maxPackBytes,
      maxPacks: options.maxPacks ?? PERSIST_DEFAULTS.maxPacks,
      maxDeadRatio: options.maxDeadRatio ?? PERSIST_DEFAULTS.maxDeadRatio,
    });
    result.compacted = plan.compact;
    session.logger.info(
      `persist: ${local.size} local blobs; ${plan.write.length} pack(s) to store` +
        (plan.compact ? ` (rollover: ${plan.deadBytes} listed bytes are gone locally)` : ''),
    );

    const baseKeys = new Set(base.map((p) => p.key));
    const failed = new Set<string>();
    for (const pack of plan.write) {
      if (baseKeys.has(pack.key)) continue;
      const outcome = await storePack(session, layout, pack);
      if (outcome === 'denied') {
        result.readOnly = 'the cache service refused the write (a read-only cache token)';
        return result;
      }
      if (outcome === 'uploaded') {
        result.packsUploaded += 1;
        result.blobsPacked += pack.blobs;
        result.bytesUploaded += pack.bytes;
      } else if (outcome === 'skipped') result.packsSkipped += 1;
      else failed.add(pack.key);
    }
    const packs = plan.packs.filter((p) => !failed.has(p.key));
    const saved = await storeIndex(session, layout, options, state, packs);
    if (saved === 'denied') {
      result.readOnly = 'the cache service refused the write (a read-only cache token)';
    } else if (saved) {
      result.indexKey = saved.key;
      result.bytesUploaded += saved.bytes;
    }
  } catch (err) {
    session.failed('saving the local cache', err);
  } finally {
    await rm(layout.stagingRoot, { recursive: true, force: true }).catch(() => undefined);
    result.durationMs = session.elapsedMs();
  }
  return result;
}

/** The packs of the last index whose blob lists this cache dir knows (others are dropped). */
async function knownPacks(layout: PersistLayout, state: PersistState, session: Session): Promise<PackPlan[]> {
  const packs: PackPlan[] = [];
  for (const pack of state.index?.packs ?? []) {
    const hashes = await readPackHashes(layout, pack.key);
    if (hashes) packs.push({ ...pack, hashes });
    else
      session.logger.debug(`persist: pack ${pack.key} was not restored here; its blobs will be packed again`);
  }
  return packs;
}

/** Stores one pack unless its key exists. */
async function storePack(
  session: Session,
  layout: PersistLayout,
  pack: PackPlan,
): Promise<'uploaded' | 'skipped' | 'failed' | 'denied'> {
  if (session.remainingMs() <= 0) {
    session.problem(
      'timeout',
      `no time left to save pack ${pack.key} (${pack.blobs} blobs); it is left for a later run`,
    );
    return 'failed';
  }
  if (await entryExists(session, [layout.packEntryPath], pack.key)) {
    session.logger.debug(`persist: pack ${pack.key} exists already`);
    await writePackHashes(layout, pack.key, pack.hashes);
    return 'skipped';
  }
  try {
    await rm(layout.packStaging, { recursive: true, force: true });
    await mkdir(layout.packStaging, { recursive: true });
    await stagePackBlobs(layout.objectsDir, pack.hashes, layout.packStaging);
    await writeFile(join(layout.packStaging, PACK_MANIFEST), formatPackManifest(pack.hashes));
    const outcome = await saveEntry(session, [layout.packEntryPath], pack.key);
    if (outcome.status === 'denied') return 'denied';
    if (outcome.status === 'failed') {
      session.problem(
        'remote-unavailable',
        `could not save pack ${pack.key} (${pack.blobs} blobs): ${outcome.detail}`,
      );
      return 'failed';
    }
    await writePackHashes(layout, pack.key, pack.hashes);
    return outcome.status === 'saved' ? 'uploaded' : 'skipped';
  } finally {
    await rm(layout.packStaging, { recursive: true, force: true });
  }
}

/**
 * Saves a new index listing `packs` with the small files, unless it would equal the last
 * one. Returns the key and bytes stored, or undefined when nothing was saved.
 */
async function storeIndex(
  session: Session,
  layout: PersistLayout,
  options: PersistSaveOptions,
  state: PersistState,
  packs: PackRef[],
): Promise<{ key: string; bytes: number } | 'denied' | undefined> {
  const files = await listSmallFiles(layout.cacheDir);
  const digest = await digestSmallFiles(files);
  if (state.index && samePacks(state.index.packs, packs) && state.index.files.digest === digest) {
    session.logger.info('persist: nothing changed since the last index; not saving a new one');
    return undefined;
  }
  if (!state.index && packs.length === 0 && files.length === 0) return undefined;
  if (session.remainingMs() <= 0) {
    session.problem('timeout', 'no time left to save the cache index; this run adds nothing to the cache');
    return undefined;
  }
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  const manifest: IndexManifest = {
    version: 1,
    created: new Date().toISOString(),
    packs,
    files: { count: files.length, bytes, digest },
  };
  const key = indexKey(
    options.prefix,
    options.runId ?? process.env.GITHUB_RUN_ID ?? 'local',
    options.runAttempt ?? process.env.GITHUB_RUN_ATTEMPT ?? '1',
  );
  await mkdir(layout.indexStaging, { recursive: true });
  await stageSmallFiles(files, join(layout.indexStaging, 'files'));
  await writeFile(join(layout.indexStaging, INDEX_MANIFEST), `${JSON.stringify(manifest)}\n`);
  const outcome = await saveEntry(session, [layout.indexEntryPath], key);
  if (outcome.status === 'denied') return 'denied';
  if (outcome.status !== 'saved') {
    const detail = outcome.status === 'failed' ? outcome.detail : 'the key exists already';
    session.problem('remote-unavailable', `could not save the cache index ${key}: ${detail}`);
    return undefined;
  }
  await writeState(layout, { prefix: options.prefix, indexKey: key, index: manifest });
  await prunePackHashes(
    layout,
    packs.map((p) => p.key),
  );
  return { key, bytes };
}
