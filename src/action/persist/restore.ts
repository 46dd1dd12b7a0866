import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  PackFiles,
  installPackedBlobs,
  movePack,
  packNames,
  removePack,
  verifyPack,
} from '../../cas/store/pack-files.js';
import { restoreEntry } from './entries.js';
import { installPackBlobs, installSmallFiles } from './files.js';
import {
  INDEX_MANIFEST,
  INLINE_PACKS_DIR,
  PACK_MANIFEST,
  type PersistLayout,
  persistLayout,
} from './layout.js';
import { type IndexManifest, type PackRef, parseIndexManifest, parsePackManifest } from './manifest.js';
import { indexKeyPrefix, validatePrefix } from './plan.js';
import { Session } from './session.js';
import { localPackName, prunePackHashes, readPackHashes, writePackHashes, writeState } from './state.js';
import type { PersistRestoreOptions, PersistRestoreResult } from './types.js';

/**
 * Restores the newest index saved under `prefix` and the packs it lists into the cache
 * directory: blobs are renamed into `cas/objects` (those present are kept), refs, action
 * cache and asset files are put in place unless a newer local copy exists. Remembers the
 * index in `<cacheDir>/.persist/` so the next save uploads only what is new. casd must not
 * be running.
 *
 * A miss is not an error. Service trouble and missing packs become warnings (a CasError
 * with fail-on-cache-error (`policy`)). Returns counters for the summary.
 */
export async function restorePersisted(options: PersistRestoreOptions): Promise<PersistRestoreResult> {
  validatePrefix(options.prefix);
  const session = new Session(options);
  const layout = persistLayout(options.cacheDir);
  const result: PersistRestoreResult = {
    packsDownloaded: 0,
    packsReused: 0,
    blobsRestored: 0,
    bytesDownloaded: 0,
    filesRestored: 0,
    durationMs: 0,
    warnings: session.warnings,
  };
  try {
    const found = await stageIndex(session, layout, options.prefix);
    if (!found) return result;
    const { index } = found;
    result.indexKey = found.key;
    session.logger.info(`persist: restoring ${found.key} (${index.packs.length} pack(s))`);
    // Set aside: an earlier index entry holding packs (a carrier) downloads to the same path.
    const carriers = new Carriers(session, layout);
    const restored = await carriers.setAside(found.key);

    for (const pack of index.packs) {
      if (session.remainingMs() <= 0) {
        session.problem(
          'timeout',
          `restore deadline reached; pack ${pack.key} and those after it were not restored`,
        );
        break;
      }
      await restorePack(session, layout, pack, found.key, carriers, result);
    }
    result.filesRestored = await installSmallFiles(join(restored, 'files'), layout.cacheDir);
    result.bytesDownloaded += index.files.bytes;
    await remember(layout, options.prefix, found.key, index);
    await settlePacks(layout, index, options.installBlobs ?? true);
  } catch (err) {
    session.failed('restoring the local cache', err);
  } finally {
    await rm(layout.stagingRoot, { recursive: true, force: true }).catch(() => undefined);
    result.durationMs = session.elapsedMs();
  }
  return result;
}

/**
 * Downloads the newest index entry of `prefix` into the (emptied) staging area and parses its
 * manifest; its small files are then under `<indexStaging>/files`. Undefined on a miss, and
 * on service trouble after recording a problem.
 */
export async function stageIndex(
  session: Session,
  layout: PersistLayout,
  prefix: string,
): Promise<{ key: string; index: IndexManifest } | undefined> {
  await rm(layout.stagingRoot, { recursive: true, force: true });
  const found = await restoreEntry(session, [layout.indexEntryPath], indexKeyPrefix(prefix), [
    indexKeyPrefix(prefix),
  ]);
  if (found.status === 'miss') {
    session.logger.info(`persist: no saved cache under ${prefix} yet`);
    return undefined;
  }
  if (found.status === 'failed') {
    session.problem('remote-unavailable', `could not restore the cache index of ${prefix}: ${found.detail}`);
    return undefined;
  }
  const manifestPath = join(layout.indexStaging, INDEX_MANIFEST);
  return { key: found.key, index: parseIndexManifest(await readFile(manifestPath, 'utf8'), found.key) };
}

/**
 * Downloads one pack and makes its blobs local: a pack of format 2 is checked and kept as a
 * pack file of the local store (settlePacks writes its blobs out where wanted); one of format
 * 1 has its blob files moved into `cas/objects`. A pack the local store holds already (a
 * self-hosted runner, a second restore in a job) is not downloaded again.
 */
async function restorePack(
  session: Session,
  layout: PersistLayout,
  pack: PackRef,
  indexKey: string,
  carriers: Carriers,
  result: PersistRestoreResult,
): Promise<void> {
  const name = localPackName(pack.key);
  const hashesKnown = await readPackHashes(layout, pack.key);
  if (hashesKnown && packNames(layout.packsDir).includes(name)) {
    result.packsReused += 1;
    result.blobsRestored += hashesKnown.length;
    return;
  }
  if (pack.inline) {
    const carrier = pack.carrier ?? indexKey;
    const staged = await carriers.get(carrier);
    if ('why' in staged) {
      session.problem(
        'remote-unavailable',
        `could not restore index entry ${carrier}, which holds pack ${pack.key} listed by ${indexKey}: ${staged.why}; its ${pack.blobs} blobs are missing`,
      );
      return;
    }
    const dir = join(staged.dir, INLINE_PACKS_DIR);
    const names = packNames(dir)
      .filter((n) => n === name || n.startsWith(`${name}-`))
      .sort();
    if (names[0] !== name) {
      session.problem(
        'corrupt-data',
        `index ${indexKey} lists pack ${pack.key} as held by index entry ${carrier}, but it is not there; its ${pack.blobs} blobs are missing`,
      );
      return;
    }
    await keepPack(session, layout, pack, dir, names, result);
    result.bytesDownloaded += pack.bytes;
    return;
  }
  try {
    const outcome = await restoreEntry(session, [layout.packEntryPath], pack.key, []);
    if (outcome.status !== 'hit') {
      const why = outcome.status === 'miss' ? 'it is no longer in the cache (evicted?)' : outcome.detail;
      session.problem(
        'remote-unavailable',
        `could not restore pack ${pack.key} listed by ${indexKey}: ${why}; its ${pack.blobs} blobs are missing`,
      );
      return;
    }
    const staged = packNames(layout.packStaging);
    if (staged.length > 0) {
      await keepPack(session, layout, pack, layout.packStaging, staged, result);
      result.bytesDownloaded += pack.bytes;
      return;
    }
    const manifestPath = join(layout.packStaging, PACK_MANIFEST);
    const hashes = parsePackManifest(await readFile(manifestPath, 'utf8'), pack.key);
    const installed = await installPackBlobs(
      layout.packStaging,
      hashes,
      layout.objectsDir,
      join(layout.stateDir, 'copying'),
    );
    if (installed.missing.length > 0) {
      session.problem(
        'corrupt-data',
        `pack ${pack.key} lacks ${installed.missing.length} blob(s) its manifest lists, e.g. ${installed.missing[0]}`,
      );
      return;
    }
    if (installed.corrupt.length > 0) {
      session.problem(
        'corrupt-data',
        `pack ${pack.key} holds ${installed.corrupt.length} blob(s) whose bytes do not match their digest, e.g. ${installed.corrupt[0]}; they were not installed`,
      );
      return;
    }
    await writePackHashes(layout, pack.key, hashes);
    result.packsDownloaded += 1;
    result.blobsRestored += installed.moved;
    result.bytesDownloaded += pack.bytes;
  } finally {
    await rm(layout.packStaging, { recursive: true, force: true });
  }
}

/**
 * The index entries a restore has downloaded, each set aside in a directory of its own under
 * the staging area: the listing index first, then each earlier one that holds listed packs
 * (PackRef.carrier), downloaded once when first needed.
 */
class Carriers {
  private readonly staged = new Map<string, { dir: string } | { why: string }>();

  constructor(
    private readonly session: Session,
    private readonly layout: PersistLayout,
  ) {}

  /** Moves the index entry just downloaded (`key`) out of the staging path; returns where to. */
  async setAside(key: string): Promise<string> {
    const dir = join(this.layout.stagingRoot, `entry-${this.staged.size}`);
    await rename(this.layout.indexStaging, dir);
    this.staged.set(key, { dir });
    return dir;
  }

  /** Where index entry `key` is set aside, downloading it first; or why it cannot be had. */
  async get(key: string): Promise<{ dir: string } | { why: string }> {
    const known = this.staged.get(key);
    if (known) return known;
    await rm(this.layout.indexStaging, { recursive: true, force: true });
    const outcome = await restoreEntry(this.session, [this.layout.indexEntryPath], key, []);
    if (outcome.status !== 'hit') {
      const why = outcome.status === 'miss' ? 'it is no longer in the cache (evicted?)' : outcome.detail;
      this.staged.set(key, { why });
      return { why };
    }
    return { dir: await this.setAside(key) };
  }
}

/**
 * Checks the pack files `names` of `dir` (format 2; one pack entry may hold several, see
 * stagePack) and moves them into the local store's packs as `<localPackName>` and
 * `<localPackName>-<i>`, that one last: a pack whose first name is there is whole.
 */
async function keepPack(
  session: Session,
  layout: PersistLayout,
  pack: PackRef,
  dir: string,
  names: readonly string[],
  result: PersistRestoreResult,
): Promise<void> {
  const corrupt: string[] = [];
  let blobs = 0;
  for (const name of names) {
    const checked = await verifyPack(dir, name);
    corrupt.push(...checked.corrupt);
    blobs += checked.blobs;
  }
  if (corrupt.length > 0) {
    session.problem(
      'corrupt-data',
      `pack ${pack.key} holds ${corrupt.length} blob(s) whose bytes do not match their digest, e.g. ${corrupt[0]}; they were not installed`,
    );
    return;
  }
  const hashes = [...new PackFiles(dir, names).sizes().keys()].sort();
  const base = localPackName(pack.key);
  for (let i = names.length - 1; i >= 0; i--) {
    await movePack(dir, names[i], layout.packsDir, i === 0 ? base : `${base}-${i}`);
  }
  await writePackHashes(layout, pack.key, hashes);
  result.packsDownloaded += 1;
  result.blobsRestored += blobs;
}

/**
 * After a restore: removes the persisted packs the index does not list (what they held is in
 * casd's objects or no longer wanted), and other local packs (a capture's, see
 * IncrementalCaptureOptions.intoPack) whose every blob a listed pack holds. With `install`,
 * writes the blobs of every local pack into casd's object store and removes the packs.
 */
async function settlePacks(layout: PersistLayout, index: IndexManifest, install: boolean): Promise<void> {
  const listed = new Set(index.packs.map((p) => localPackName(p.key)));
  const persisted = (name: string): boolean => LOCAL_PACK_NAME.test(name);
  for (const name of packNames(layout.packsDir)) {
    if (persisted(name) && !listed.has(name.slice(0, 32))) await removePack(layout.packsDir, name);
  }
  const others = packNames(layout.packsDir).filter((name) => !persisted(name));
  if (others.length > 0 && !install) {
    const listedPacks = new PackFiles(layout.packsDir, packNames(layout.packsDir).filter(persisted));
    for (const name of others) {
      const own = new PackFiles(layout.packsDir, [name]);
      if ([...own.sizes().keys()].every((hash) => listedPacks.has(hash)))
        await removePack(layout.packsDir, name);
    }
  }
  if (!install) return;
  const packs = new PackFiles(layout.packsDir);
  try {
    await installPackedBlobs(packs, layout.objectsDir, join(layout.cacheDir, 'cas', 'tmp'));
  } finally {
    await packs.close();
  }
  for (const name of packNames(layout.packsDir)) await removePack(layout.packsDir, name);
}

/** Names of the local packs persistence keeps (localPackName); others are a capture's. */
const LOCAL_PACK_NAME = /^[0-9a-f]{32}(-\d+)?$/;

/** Records the restored index as the base of the next save. */
async function remember(
  layout: PersistLayout,
  prefix: string,
  key: string,
  index: IndexManifest,
): Promise<void> {
  await writeState(layout, { prefix, indexKey: key, index });
  await prunePackHashes(
    layout,
    index.packs.map((p) => p.key),
  );
}
