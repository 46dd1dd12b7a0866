import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PACK_DATA_SUFFIX, PACK_INDEX_SUFFIX, PackFiles, writePack } from '../../cas/store/pack-files.js';
import { saveEntry } from './entries.js';
import { digestSmallFiles, stageSmallFiles } from './files.js';
import {
  INDEX_MANIFEST,
  INLINE_PACKS_DIR,
  type PersistLayout,
  STAGED_PACK_NAME,
  linkOrCopy,
  listSmallFiles,
  objectPath,
  persistLayout,
  scanBlobs,
} from './layout.js';
import { INDEX_VERSION, type IndexManifest, type PackPlan, type PackRef, samePacks } from './manifest.js';
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
  localPackName,
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
  let packed: PackFiles | undefined;
  try {
    await rm(layout.stagingRoot, { recursive: true, force: true });
    const state = await readState(layout, options.prefix, session.logger);
    const base = await knownPacks(layout, state, session);
    // Local blobs: casd's objects, and the packs a restore kept without writing them out.
    packed = new PackFiles(layout.packsDir);
    const local = packed.sizes();
    for (const [hash, size] of await scanBlobs(layout.objectsDir)) local.set(hash, size);
    const localPacks = packed.hashesByPack();
    const bytesOf = (hash: string): Promise<Buffer> =>
      readFile(objectPath(layout.objectsDir, hash)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT' || !packed?.has(hash)) throw err;
        return packed.read(hash);
      });
    const key = indexKey(
      options.prefix,
      options.runId ?? process.env.GITHUB_RUN_ID ?? 'local',
      options.runAttempt ?? process.env.GITHUB_RUN_ATTEMPT ?? '1',
    );
    const plan = planSave(
      options.prefix,
      base,
      local,
      {
        maxPackBytes: options.maxPackBytes ?? PERSIST_DEFAULTS.maxPackBytes,
        maxPacks: options.maxPacks ?? PERSIST_DEFAULTS.maxPacks,
        maxDeadRatio: options.maxDeadRatio ?? PERSIST_DEFAULTS.maxDeadRatio,
        maxInlineBytes: options.maxInlineBytes ?? PERSIST_DEFAULTS.maxInlineBytes,
        maxWholePackBytes: PERSIST_DEFAULTS.maxWholePackBytes,
        maxCarriedBytes: options.maxCarriedBytes ?? PERSIST_DEFAULTS.maxCarriedBytes,
      },
      [...localPacks.values()],
      key,
    );
    result.compacted = plan.compact;
    session.logger.info(
      `persist: ${local.size} local blobs; ${plan.write.length} pack(s) to store, ` +
        `${plan.inline.length + plan.carried.length} in the index` +
        (plan.compact ? ` (rollover: ${plan.deadBytes} listed bytes are gone locally)` : ''),
    );

    const baseKeys = new Set(base.map((p) => p.key));
    const failed = new Set<string>();
    for (const pack of plan.write) {
      if (baseKeys.has(pack.key)) continue;
      const outcome = await storePack(session, layout, localPacks, pack, local, bytesOf);
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
    const newInline = [...plan.inline.filter((p) => !baseKeys.has(p.key)), ...plan.carried];
    const stageInline = async (dir: string): Promise<void> => {
      await stageInlinePacks(dir, plan.inline, local, bytesOf);
      for (const pack of plan.carried)
        await stagePack(layout.packsDir, localPacks, dir, localPackName(pack.key), pack, local, bytesOf);
    };
    const saved = await storeIndex(session, layout, options.prefix, state, key, packs, stageInline);
    if (saved === 'denied') {
      result.readOnly = 'the cache service refused the write (a read-only cache token)';
    } else if (saved) {
      result.indexKey = saved.key;
      result.bytesUploaded += saved.bytes;
      result.packsUploaded += newInline.length;
      for (const pack of newInline) result.blobsPacked += pack.blobs;
      for (const pack of plan.carried) {
        result.bytesUploaded += pack.bytes;
        await writePackHashes(layout, pack.key, pack.hashes);
      }
    }
  } catch (err) {
    session.failed('saving the local cache', err);
  } finally {
    await packed?.close();
    await rm(layout.stagingRoot, { recursive: true, force: true }).catch(() => undefined);
    result.durationMs = session.elapsedMs();
  }
  return result;
}

/** Writes the packs `inline` under `dir` (the index entry's `packs/`), named as local packs. */
async function stageInlinePacks(
  dir: string,
  inline: readonly PackPlan[],
  sizes: ReadonlyMap<string, number>,
  bytesOf: (hash: string) => Promise<Buffer>,
): Promise<void> {
  for (const pack of inline) {
    const blobs = pack.hashes.map((hash) => ({ hash, size: sizes.get(hash) ?? 0 }));
    await writePack(dir, localPackName(pack.key), blobs, bytesOf);
  }
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

/**
 * The blobs of each local pack file (a capture's, or one a restore kept), by pack name: read
 * with the local blobs, once a save (at 100,000 blobs each read of the indexes costs ~20 MB).
 */
type LocalPacks = ReadonlyMap<string, readonly string[]>;

/**
 * Stores one pack (format 2: one data file and its index, see pack-files.ts) unless its key
 * exists. No look-up first: a content-keyed pack is new nearly always, and a save of one that
 * exists fails its reservation, which saveEntry then tells from an outage with one look-up.
 */
async function storePack(
  session: Session,
  layout: PersistLayout,
  localPacks: LocalPacks,
  pack: PackPlan,
  sizes: ReadonlyMap<string, number>,
  bytesOf: (hash: string) => Promise<Buffer>,
): Promise<'uploaded' | 'skipped' | 'failed' | 'denied'> {
  if (session.remainingMs() <= 0) {
    session.problem(
      'timeout',
      `no time left to save pack ${pack.key} (${pack.blobs} blobs); it is left for a later run`,
    );
    return 'failed';
  }
  try {
    await rm(layout.packStaging, { recursive: true, force: true });
    await stagePack(layout.packsDir, localPacks, layout.packStaging, STAGED_PACK_NAME, pack, sizes, bytesOf);
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
 * Stages the blobs of `pack` as pack files `<name>`, `<name>-1`, ... in `dir`: local packs of
 * `packsDir` (a capture's, IncrementalCaptureOptions.intoPack) whose every blob belongs to
 * `pack` are linked in whole (no copy of their bytes), and the rest is written into one more
 * pack file. A restore takes every pack file of the entry (restorePack), or of the name.
 */
async function stagePack(
  packsDir: string,
  localPacks: LocalPacks,
  dir: string,
  name: string,
  pack: PackPlan,
  sizes: ReadonlyMap<string, number>,
  bytesOf: (hash: string) => Promise<Buffer>,
): Promise<void> {
  const wanted = new Set(pack.hashes);
  const covered = new Set<string>();
  let part = 0;
  const nextName = (): string => (part === 0 ? name : `${name}-${part}`);
  await mkdir(dir, { recursive: true });
  for (const [local, held] of localPacks) {
    if (held.length === 0 || !held.every((hash) => wanted.has(hash) && !covered.has(hash))) continue;
    const staged = nextName();
    for (const suffix of [PACK_DATA_SUFFIX, PACK_INDEX_SUFFIX])
      await linkOrCopy(join(packsDir, local + suffix), join(dir, staged + suffix));
    part += 1;
    for (const hash of held) covered.add(hash);
  }
  const rest = pack.hashes.filter((hash) => !covered.has(hash));
  if (rest.length > 0 || part === 0) {
    const blobs = rest.map((hash) => ({ hash, size: sizes.get(hash) ?? 0 }));
    await writePack(dir, nextName(), blobs, bytesOf);
  }
}

/**
 * Saves a new index listing `packs` with the small files, unless it would equal the last
 * one. Returns the key and bytes stored, or undefined when nothing was saved.
 */
async function storeIndex(
  session: Session,
  layout: PersistLayout,
  prefix: string,
  state: PersistState,
  key: string,
  packs: PackRef[],
  stageInline: (dir: string) => Promise<void>,
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
  const bytes =
    files.reduce((sum, f) => sum + f.size, 0) +
    packs.reduce((sum, p) => sum + (p.inline && !p.carrier ? p.bytes : 0), 0);
  const manifest: IndexManifest = {
    version: INDEX_VERSION,
    created: new Date().toISOString(),
    packs,
    files: { count: files.length, bytes, digest },
  };
  await mkdir(layout.indexStaging, { recursive: true });
  await stageSmallFiles(files, join(layout.indexStaging, 'files'));
  await stageInline(join(layout.indexStaging, INLINE_PACKS_DIR));
  await writeFile(join(layout.indexStaging, INDEX_MANIFEST), `${JSON.stringify(manifest)}\n`);
  const outcome = await saveEntry(session, [layout.indexEntryPath], key);
  if (outcome.status === 'denied') return 'denied';
  if (outcome.status !== 'saved') {
    const detail = outcome.status === 'failed' ? outcome.detail : 'the key exists already';
    session.problem('remote-unavailable', `could not save the cache index ${key}: ${detail}`);
    return undefined;
  }
  await writeState(layout, { prefix, indexKey: key, index: manifest });
  await prunePackHashes(
    layout,
    packs.map((p) => p.key),
  );
  return { key, bytes };
}
