import { randomBytes } from 'node:crypto';
import { type Dirent, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { lstat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CasError } from '../../errors.js';
import { Directory } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type Logger, silentLogger } from '../../logger.js';
import { chunks, forEachLimit } from '../../util/concurrency.js';
import { type Digest, digestOfBuffer } from '../digest.js';
import { captureFiles, statusToCasError } from '../store/local-cas.js';
import {
  CAPTURE_BATCH,
  CAPTURE_CONCURRENCY,
  PACK_CAPTURE_MAX_FILE_BYTES,
  PACK_CAPTURE_READ_AHEAD,
  PACK_CAPTURE_SLOT_BYTES,
} from '../options.js';
import { PACKS_DIR, PackWriter } from '../store/pack-files.js';
import {
  type StatCache,
  type StatEntry,
  type StatKey,
  isRacy,
  loadStatCache,
  racyWindowFor,
  removeStatCache,
  saveStatCache,
  statCachePath,
  statKeyOf,
  wallClockNs,
} from './stat-cache.js';
import type { CasStore } from '../store/store.js';
import { walkDirectories } from '../trees/tree.js';
import { SlotReader } from './slot-reader.js';
import { byName } from '../trees/names.js';

export interface IncrementalCaptureOptions {
  /** Where stat caches live (default `<cacheDir>/cas/stat-cache`). */
  statCacheDir?: string;
  logger?: Logger;
  /**
   * Files whose mtime or ctime is within this many milliseconds of the start of the scan
   * that recorded them are hashed again. By default each stat cache records the window its
   * entries were taken under, chosen from the timestamps seen (racyWindowFor: 20 ms on
   * filesystems with fine timestamps, 2 s on whole-second ones), and a cache without one is
   * read with 1 s. Giving a value overrides both (tests use 0).
   */
  racyWindowMs?: number;
  /**
   * Without a usable stat cache, hash the files in this process and write them, with the tree's
   * Directories, into one new pack of the local store (pack-files.ts) instead of through
   * CaptureTree into casd's objects: each file is read once and no object file is created.
   * With one, the files hashed again and the new Directories go into one new pack the same
   * way (unless their bytes exceed packMaxBytes). For captures persisted as packs (the
   * Actions cache) and not pushed through casd, which does not serve packed blobs. Files
   * above PACK_CAPTURE_MAX_FILE_BYTES still go to casd.
   */
  intoPack?: boolean;
  /**
   * With `intoPack`: a tree whose files (or, incrementally, whose files to hash) hold more
   * bytes than this is captured through casd instead, so that casd's quota still bounds what
   * the local cache takes (casd does not see packs). Default: no bound.
   */
  packMaxBytes?: number;
  /**
   * Which of some digests the remote this capture is pushed to lacks (Remote.remoteMissingBlobs).
   * Unchanged files whose blobs the local cache lacks are then hashed again only when the
   * remote lacks them too: after a restore that wrote them straight from the remote, their
   * blobs are there, and the push needs nothing of them.
   */
  remoteMissingBlobs?: (digests: Digest[]) => Promise<Digest[]>;
}

export interface IncrementalCaptureResult {
  /** Digest of the root Directory, identical to what casd's CaptureTree gives. */
  root: Digest;
  /** Files hashed (captured) by this call. */
  filesHashed: number;
  /** Files whose digest came from the stat cache. */
  filesReused: number;
  /** True when the whole tree went through CaptureTree (no usable stat cache). */
  full: boolean;
}

/** The racy window of stat caches that did not record theirs. */
const LEGACY_RACY_WINDOW_NS = 1_000_000_000n;
/** casd marks a file executable when its owner may execute it (checked on casd 1.4.30). */
const OWNER_EXECUTE = 0o100;

interface ScannedFile {
  name: string;
  path: string;
  stat: StatKey;
  size: number;
  executable: boolean;
  digest?: Digest;
}

interface ScannedDir {
  name: string;
  path: string;
  files: ScannedFile[];
  dirs: ScannedDir[];
  symlinks: { name: string; target: string }[];
}

interface Scan {
  root: ScannedDir;
  files: ScannedFile[];
}

function* stats(scan: Scan): Generator<StatKey> {
  for (const file of scan.files) yield file.stat;
}

function relative(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

// Why synchronous: for metadata already in the kernel's cache an lstat takes microseconds,
// far less than a round trip through libuv's thread pool; git scans its index the same way.
// Returns undefined when a name would not survive a round trip through a JS string (not
// UTF-8): such trees go through CaptureTree, which sees the raw bytes.
function scanTree(absRoot: string): Scan | undefined {
  const files: ScannedFile[] = [];
  const scanDir = (abs: string, name: string, path: string): ScannedDir | undefined => {
    const dir: ScannedDir = { name, path, files: [], dirs: [], symlinks: [] };
    let entries: Dirent[];
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch (err) {
      throw new CasError('io', `cannot list directory ${abs} for capture: ${errnoOf(err)}`, { cause: err });
    }
    for (const entry of entries) {
      if (entry.name.includes('\uFFFD')) return undefined;
      const childAbs = join(abs, entry.name);
      const childPath = relative(path, entry.name);
      try {
        if (entry.isDirectory()) {
          const child = scanDir(childAbs, entry.name, childPath);
          if (!child) return undefined;
          dir.dirs.push(child);
        } else if (entry.isSymbolicLink()) {
          dir.symlinks.push({ name: entry.name, target: readlinkSync(childAbs) });
        } else if (entry.isFile()) {
          const stats = lstatSync(childAbs, { bigint: true });
          if (!stats.isFile()) continue;
          const file: ScannedFile = {
            name: entry.name,
            path: childPath,
            stat: statKeyOf(stats),
            size: Number(stats.size),
            executable: (Number(stats.mode) & OWNER_EXECUTE) !== 0,
          };
          dir.files.push(file);
          files.push(file);
        }
        // Sockets, FIFOs and devices are left out, as casd's CaptureTree leaves them out.
      } catch (err) {
        if (err instanceof CasError) throw err;
        if (errnoOf(err) === 'ENOENT') continue; // removed while we looked: gone from the tree
        throw new CasError('io', `cannot inspect ${childAbs} for capture: ${errnoOf(err)}`, { cause: err });
      }
    }
    return dir;
  };
  const root = scanDir(absRoot, '', '');
  return root ? { root, files } : undefined;
}

// Captures `files` through CaptureFiles (casd hashes and stores them), setting their digests.
async function captureScanned(store: CasStore, absRoot: string, files: ScannedFile[]): Promise<void> {
  await forEachLimit(chunks(files, CAPTURE_BATCH), CAPTURE_CONCURRENCY, async (batch) => {
    const paths = batch.map((f) => join(absRoot, f.path));
    const responses = await captureFiles(store.connection, paths, {
      instanceName: store.instanceName,
      skipUpload: store.skipUpload,
    });
    responses.forEach((response, i) => {
      const error = statusToCasError(response.status, `capturing ${paths[i]}`);
      if (error) throw error;
      if (!response.digest) throw new CasError('remote-error', `CaptureFiles gave no digest for ${paths[i]}`);
      batch[i].digest = response.digest;
    });
  });
}

/**
 * The full capture of `scan` into one new pack of the local store: every file read once (a
 * few ahead of the sequential appends), hashed here and appended unless the store holds it;
 * then the Directories, built as CaptureTree builds them. Files that vanished since the scan
 * are left out of the tree; files above PACK_CAPTURE_MAX_FILE_BYTES go through casd.
 */
async function captureIntoPack(
  store: CasStore,
  absRoot: string,
  scan: Scan,
  toHash: readonly ScannedFile[] = scan.files,
): Promise<{ root: Digest; dirs: Map<string, Digest> }> {
  const large = toHash.filter((f) => f.size > PACK_CAPTURE_MAX_FILE_BYTES);
  await captureScanned(store, absRoot, large);
  const small = toHash.filter((f) => f.size <= PACK_CAPTURE_MAX_FILE_BYTES);
  const gone = new Set<ScannedFile>();
  const writer = await PackWriter.create(
    join(store.cacheDir, PACKS_DIR),
    `capture-${randomBytes(8).toString('hex')}`,
  );
  let root: Digest;
  const dirs = new Map<string, Digest>();
  try {
    const slots = Array.from({ length: PACK_CAPTURE_READ_AHEAD }, () =>
      Buffer.allocUnsafe(PACK_CAPTURE_SLOT_BYTES),
    );
    const held = store.presenceCheck(small.length);
    const reader = new SlotReader();
    const failed = (path: string, err: unknown): undefined => {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw new CasError('io', `cannot read ${path} for capture: ${errnoOf(err)}`, { cause: err });
    };
    // File i is read into slot i % READ_AHEAD, so file i + READ_AHEAD is read only once file
    // i has been appended. A file bigger than its slot is streamed through it into the pack.
    const reads = new Map<number, Promise<Buffer | 'large' | undefined>>();
    const readAhead = (i: number): void => {
      if (i >= small.length) return;
      const path = join(absRoot, small[i].path);
      const read = reader.read(path, slots[i % slots.length]).catch((err: unknown) => failed(path, err));
      read.catch(() => undefined); // awaited in order below; this only stops an unhandled rejection
      reads.set(i, read);
    };
    for (let i = 0; i < PACK_CAPTURE_READ_AHEAD; i++) readAhead(i);
    for (let i = 0; i < small.length; i++) {
      const data = await reads.get(i)!;
      reads.delete(i);
      const path = join(absRoot, small[i].path);
      if (data === 'large') {
        // The slot holds the file's first bytes: 'large' means they filled it.
        const slot = slots[i % slots.length];
        const digest = await writer
          .addFile(path, slot, held, slot.byteLength)
          .catch((err: unknown) => failed(path, err));
        if (digest) small[i].digest = digest;
        else gone.add(small[i]);
      } else if (data === undefined) {
        gone.add(small[i]);
      } else {
        const digest = digestOfBuffer(data);
        small[i].digest = digest;
        if (!writer.has(digest.hash) && !held(digest)) await writer.add(digest.hash, data);
      }
      readAhead(i + PACK_CAPTURE_READ_AHEAD);
    }
    if (gone.size > 0) dropFiles(scan, gone);
    const blobs = new Map<string, { digest: Digest; data: Uint8Array }>();
    root = buildDirectories(scan.root, dirs, blobs);
    for (const blob of blobs.values()) {
      if (!writer.has(blob.digest.hash) && !held(blob.digest)) await writer.add(blob.digest.hash, blob.data);
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  if (writer.blobs > 0) await writer.finish();
  else await writer.abort();
  store.reloadPacks();
  return { root, dirs };
}

/** Takes the files of `gone` out of the scan (they vanished while it was captured). */
function dropFiles(scan: Scan, gone: ReadonlySet<ScannedFile>): void {
  const prune = (dir: ScannedDir): void => {
    dir.files = dir.files.filter((f) => !gone.has(f));
    for (const child of dir.dirs) prune(child);
  };
  prune(scan.root);
  scan.files = scan.files.filter((f) => !gone.has(f));
}

// Stores serialised Directory messages: straight into the object store when captures stay
// local anyway (skipUpload), else through temporary files that casd moves into its store,
// so that the store's instance and upload setting apply as for any capture.
async function storeDirectories(
  store: CasStore,
  blobs: { digest: Digest; data: Uint8Array }[],
): Promise<void> {
  if (store.skipUpload) {
    store.writeLocalObjects(blobs);
    return;
  }
  await forEachLimit(chunks(blobs, CAPTURE_BATCH), CAPTURE_CONCURRENCY, async (batch) => {
    const tag = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const paths = batch.map((_, i) => join(store.tmpDir, `dir-${tag}-${i}`));
    try {
      await Promise.all(batch.map((blob, i) => writeFile(paths[i], blob.data)));
      const responses = await captureFiles(store.connection, paths, {
        instanceName: store.instanceName,
        skipUpload: store.skipUpload,
        moveFiles: true,
      });
      responses.forEach((response, i) => {
        const error = statusToCasError(response.status, 'storing a Directory message');
        if (error) throw error;
        if (response.digest?.hash !== batch[i].digest.hash) {
          throw new CasError(
            'corrupt-data',
            `casd stored Directory ${batch[i].digest.hash} under another digest`,
          );
        }
      });
    } finally {
      await Promise.all(paths.map((p) => unlink(p).catch(() => undefined)));
    }
  });
}

// Builds the Directory messages bottom up, as casd's CaptureTree would; records each digest.
function buildDirectories(
  dir: ScannedDir,
  dirs: Map<string, Digest>,
  blobs: Map<string, { digest: Digest; data: Uint8Array }>,
): Digest {
  const directory: Directory = {
    files: [...dir.files].sort(byName).map((f) => ({
      name: f.name,
      digest: f.digest,
      isExecutable: f.executable,
      nodeProperties: undefined,
    })),
    directories: [...dir.dirs]
      .sort(byName)
      .map((d) => ({ name: d.name, digest: buildDirectories(d, dirs, blobs) })),
    symlinks: [...dir.symlinks]
      .sort(byName)
      .map((s) => ({ name: s.name, target: s.target, nodeProperties: undefined })),
    nodeProperties: undefined,
  };
  const data = Directory.encode(directory).finish();
  const digest = digestOfBuffer(data);
  blobs.set(digest.hash, { digest, data });
  dirs.set(dir.path, digest);
  return digest;
}

// The entries worth recording: files whose digest matches the size we saw.
function entriesOf(files: ScannedFile[]): Map<string, StatEntry> {
  const entries = new Map<string, StatEntry>();
  for (const file of files) {
    if (file.digest && Number(file.digest.sizeBytes) === file.size) {
      entries.set(file.path, { stat: file.stat, hash: file.digest.hash });
    }
  }
  return entries;
}

// Starts CaptureTree of the whole directory and waits until the request is on its way, so
// that a synchronous scan right after runs while casd works.
async function startImport(store: CasStore, absRoot: string): Promise<{ root: Promise<Digest> }> {
  const root = store.importDirectory(absRoot);
  root.catch(() => undefined); // awaited by the caller; this only stops an unhandled rejection
  for (let i = 0; i < 3; i++) await new Promise((done) => setImmediate(done));
  return { root };
}

// Full capture through CaptureTree (`imported`, started before the scan), then the digests
// of the scanned files, read back from the captured tree. Recording them is safe although
// the scan and casd's reads overlap: a file changed after the scan started is racy (hashed
// again next time), and one changed before is what casd read.
async function captureFull(
  store: CasStore,
  imported: Promise<Digest>,
  absRoot: string,
  scan: Scan,
): Promise<{ root: Digest; cache: StatCache }> {
  const scanned = new Map(scan.files.map((f) => [f.path, f]));
  const root = await imported;
  const dirs = new Map<string, Digest>();
  for await (const { path, digest, directory } of walkDirectories(store, root)) {
    dirs.set(path, digest);
    for (const node of directory.files) {
      const file = scanned.get(relative(path, node.name));
      if (file && node.digest && node.isExecutable === file.executable) file.digest = node.digest;
    }
  }
  return { root, cache: { root: absRoot, scanStartNs: 0n, files: entriesOf(scan.files), dirs } };
}

/**
 * Captures the directory at `path` into `store` like `store.importDirectory` (the same root
 * digest, byte for byte), but hashes only files whose stat (size, mtime, ctime, inode,
 * mode) changed since the last capture of the same directory, reusing the digests recorded
 * in a stat cache (`<cacheDir>/cas/stat-cache/<hash of the path>.json`). Files hashed by the
 * last capture within `racyWindowMs` of their last change are hashed again, and reused
 * digests whose blobs left the local cache are captured again. The Directory messages are
 * rebuilt here and the new ones stored.
 *
 * Without a usable stat cache (none yet, another version or root, corrupted) or when a name
 * is not UTF-8, the tree goes through casd's CaptureTree (`full: true`) and the cache is
 * rebuilt from it. Throws CasError like importDirectory (missing path, unreadable files,
 * 'cache-too-full').
 */
export async function captureIncremental(
  store: CasStore,
  path: string,
  options: IncrementalCaptureOptions = {},
): Promise<IncrementalCaptureResult> {
  const logger = options.logger ?? silentLogger;
  const absRoot = resolve(path);
  const cacheFile = statCachePath(
    options.statCacheDir ?? join(store.cacheDir, 'cas', 'stat-cache'),
    absRoot,
    store.instanceName,
  );
  const givenWindowNs =
    options.racyWindowMs === undefined ? undefined : BigInt(Math.round(options.racyWindowMs * 1e6));

  const rootStats = await lstat(absRoot).catch(() => undefined);
  if (!rootStats?.isDirectory()) {
    // Missing, a file or a symlink: casd decides (and names the problem).
    const root = await store.importDirectory(absRoot);
    return { root, filesHashed: 0, filesReused: 0, full: true };
  }

  const scanStartNs = wallClockNs();
  const loaded = await loadStatCache(cacheFile, absRoot);
  let packing = options.intoPack === true && !loaded.cache;
  // The quota bound needs the scan's sizes: a tree over it starts CaptureTree after the scan.
  const imported = loaded.cache || packing ? undefined : await startImport(store, absRoot);
  const scan = scanTree(absRoot);
  let late: { root: Promise<Digest> } | undefined;
  if (packing && scan && options.packMaxBytes !== undefined) {
    const bytes = scan.files.reduce((sum, f) => sum + f.size, 0);
    if (bytes > options.packMaxBytes) {
      logger.debug(`capture of ${absRoot}: ${bytes} bytes exceed the pack bound; capturing through casd`);
      packing = false;
      late = await startImport(store, absRoot);
    }
  }
  if (!scan) {
    logger.debug(`capture of ${absRoot}: a name is not UTF-8; capturing everything with CaptureTree`);
    await removeStatCache(cacheFile).catch(() => undefined);
    const root = await (imported?.root ?? store.importDirectory(absRoot));
    return { root, filesHashed: 0, filesReused: 0, full: true };
  }

  let result: IncrementalCaptureResult;
  let cache: StatCache;
  if (packing && !loaded.cache) {
    logger.debug(`capture of ${absRoot}: no usable stat cache (${loaded.reason}); packing everything`);
    const packed = await captureIntoPack(store, absRoot, scan);
    cache = {
      root: absRoot,
      scanStartNs,
      racyWindowNs: givenWindowNs ?? racyWindowFor(stats(scan)),
      files: entriesOf(scan.files),
      dirs: packed.dirs,
    };
    result = { root: packed.root, filesHashed: scan.files.length, filesReused: 0, full: true };
  } else if (!loaded.cache) {
    logger.debug(`capture of ${absRoot}: no usable stat cache (${loaded.reason}); capturing everything`);
    const full = await captureFull(store, (imported ?? late)!.root, absRoot, scan);
    cache = { ...full.cache, scanStartNs, racyWindowNs: givenWindowNs ?? racyWindowFor(stats(scan)) };
    result = { root: full.root, filesHashed: scan.files.length, filesReused: 0, full: true };
  } else {
    const previous = loaded.cache;
    const windowNs = givenWindowNs ?? previous.racyWindowNs ?? LEGACY_RACY_WINDOW_NS;
    const reused: ScannedFile[] = [];
    const toHash: ScannedFile[] = [];
    for (const file of scan.files) {
      const entry = previous.files.get(file.path);
      if (entry && entry.stat === file.stat && !isRacy(entry.stat, previous.scanStartNs, windowNs)) {
        file.digest = { hash: entry.hash, sizeBytes: file.size };
        reused.push(file);
      } else {
        toHash.push(file);
      }
    }
    // A digest is only worth reusing while its blob is still in the local cache (casd may
    // have expired it) or on the remote the capture is pushed to; files whose blob is gone
    // are captured again.
    let notLocal = await store.localMissingBlobs(reused.map((f) => f.digest as Digest));
    if (notLocal.length > 0 && options.remoteMissingBlobs)
      notLocal = await options.remoteMissingBlobs(notLocal);
    const gone = new Set(notLocal.map((d) => d.hash));
    const kept = gone.size === 0 ? reused : reused.filter((f) => !gone.has((f.digest as Digest).hash));
    if (gone.size > 0) toHash.push(...reused.filter((f) => gone.has((f.digest as Digest).hash)));

    let built: { root: Digest; dirs: Map<string, Digest> };
    const bound = options.packMaxBytes;
    if (options.intoPack && (bound === undefined || toHash.reduce((sum, f) => sum + f.size, 0) <= bound)) {
      // Why a pack here too: the changed files and the Directories above them are what a save
      // uploads; one pack file holds them (and is staged whole) where casd would write an
      // object file each (~0.15 ms a file, ~50 ms for a 1% change of 10,000 files).
      built = await captureIntoPack(store, absRoot, scan, toHash);
    } else {
      await captureScanned(store, absRoot, toHash);
      const dirs = new Map<string, Digest>();
      const blobs = new Map<string, { digest: Digest; data: Uint8Array }>();
      const root = buildDirectories(scan.root, dirs, blobs);
      const absent = new Set(
        (await store.localMissingBlobs([...blobs.values()].map((b) => b.digest))).map((d) => d.hash),
      );
      await storeDirectories(
        store,
        [...blobs.values()].filter((b) => absent.has(b.digest.hash)),
      );
      built = { root, dirs };
    }
    const { root, dirs } = built;
    cache = {
      root: absRoot,
      scanStartNs,
      racyWindowNs: givenWindowNs ?? racyWindowFor(stats(scan)),
      files: entriesOf(scan.files),
      dirs,
    };
    result = { root, filesHashed: toHash.length, filesReused: kept.length, full: false };
  }
  try {
    await saveStatCache(cacheFile, cache);
  } catch (err) {
    logger.warning(
      `cannot write the stat cache ${cacheFile} (${errnoOf(err)}); the next capture hashes everything`,
    );
  }
  logger.debug(
    `captured ${absRoot}: ${result.filesHashed} file(s) hashed, ${result.filesReused} reused` +
      (result.full ? ' (full capture)' : ''),
  );
  return result;
}
