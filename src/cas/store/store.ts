import { createHash, randomBytes } from 'node:crypto';
import {
  constants as fsConstants,
  existsSync,
  readdirSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { access, chmod, copyFile, mkdir, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CasError } from '../../errors.js';
import { Directory } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Connection } from '../../grpc/connection.js';
import { type Logger, silentLogger } from '../../logger.js';
import { forEachLimit } from '../../util/concurrency.js';
import { corruptObject, holding } from './corrupt.js';
import { type Digest, formatDigest, validateDigest } from '../digest.js';
import { captureFiles, captureTree, statusToCasError } from './local-cas.js';
import { validateDirectory } from '../trees/names.js';
import { DigestSet, addTreeBlobHashes, walkDirectories } from '../trees/tree.js';
import { STORE_CAPTURE_BATCH, STORE_FS_CONCURRENCY } from '../options.js';
import { PACKS_DIR, PackFiles, installPackedBlobs, packNames, removePack } from './pack-files.js';

export interface CasStoreOptions {
  /** The directory casd was started on (it holds `cas/objects`, `cas/tmp`, ...). */
  cacheDir: string;
  /** A connection to that casd. The store does not own it: the caller closes it. */
  connection: Connection;
  /** casd instance used for captures; "" (default) is casd's own store. */
  instanceName?: string;
  /**
   * Keep captures local even when the instance proxies to a remote, so that pushing stays a
   * separate, measured step (only what the remote lacks, under a deadline).
   */
  skipUpload?: boolean;
  logger?: Logger;
}

/** What to add to the store: a file on disk, or bytes in memory. */
export type ObjectSource = { path: string } | { buffer: Uint8Array };

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Reads the Directory object at `path`: 'blob-not-found' when there is none, 'io' otherwise. */
async function readDirectoryObject(digest: Digest, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') {
      throw new CasError('blob-not-found', `Directory ${formatDigest(digest)} is not in the local cache`, {
        cause: err,
      });
    }
    throw new CasError('io', `cannot read Directory ${formatDigest(digest)} at ${path}: ${errnoOf(err)}`, {
      cause: err,
    });
  }
}

/**
 * The local store of a running buildbox-casd: reads objects straight from casd's directory
 * (`<cacheDir>/cas/objects`) and adds them through casd's LocalCAS service, so that casd
 * keeps its own accounting (quota, LRU) right. Blobs restored as pack files
 * (`<cacheDir>/cas/packs`, see pack-files.ts) are local too: the store reads and checks out
 * from them, though casd serves them only once installPackedBlobs has written them out.
 */
export class CasStore {
  readonly cacheDir: string;
  readonly connection: Connection;
  readonly instanceName: string;
  readonly skipUpload: boolean;
  readonly logger: Logger;
  readonly objectsDir: string;
  readonly tmpDir: string;
  readonly refsDir: string;
  private packFiles?: PackFiles;

  constructor(options: CasStoreOptions) {
    this.cacheDir = resolve(options.cacheDir);
    this.connection = options.connection;
    this.instanceName = options.instanceName ?? '';
    this.skipUpload = options.skipUpload ?? false;
    this.logger = options.logger ?? silentLogger;
    this.objectsDir = join(this.cacheDir, 'cas', 'objects');
    this.tmpDir = join(this.cacheDir, 'cas', 'tmp');
    this.refsDir = join(this.cacheDir, 'cas', 'refs', 'heads');
  }

  /**
   * Checks that the cache directory looks like casd's: `cas/objects` and `cas/tmp` exist.
   * Creates `cas/refs/heads` when missing (refs are ours; casd never creates them).
   * Throws CasError('cache-layout') naming the first missing path.
   */
  async checkLayout(): Promise<void> {
    try {
      await mkdir(this.refsDir, { recursive: true });
    } catch (err) {
      throw new CasError(
        'cache-layout',
        `cannot create the refs directory ${this.refsDir}: ${errnoOf(err)}`,
        {
          cause: err,
        },
      );
    }
    for (const dir of [this.refsDir, this.objectsDir, this.tmpDir]) {
      let isDir = false;
      try {
        isDir = (await stat(dir)).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) {
        throw new CasError(
          'cache-layout',
          `${dir} is missing or not a directory: ${this.cacheDir} is not a buildbox-casd cache (is casd running on it?)`,
        );
      }
    }
  }

  /**
   * Path of the object file holding `digest`: `<cacheDir>/cas/objects/<2 hex>/<62 hex>`.
   * Throws CasError('invalid-digest') for a malformed digest (a hash is also a path here).
   */
  objectPath(digest: Digest): string {
    validateDigest(digest);
    return join(this.objectsDir, digest.hash.slice(0, 2), digest.hash.slice(2));
  }

  /**
   * Writes the packed blobs (pack-files.ts) into casd's object store, so that casd serves
   * them to the job's tools, except those of the trees `keepPacked` (Directories and files):
   * trees checked out from the packs already, which the store reads from there. `keepPacked`
   * is those trees' roots, walked here, or the hashes of their blobs, when whoever checked
   * them out collected them (see StageOptions.onDirectory): at 100,000 files that walk cost
   * 1.9 s. Returns how many blobs were written and their bytes.
   */
  async installPacked(
    keepPacked: readonly Digest[] | ReadonlySet<string> = [],
  ): Promise<{ installed: number; bytes: number }> {
    if (this.packs.size === 0) return { installed: 0, bytes: 0 };
    if (!Array.isArray(keepPacked))
      return installPackedBlobs(this.packs, this.objectsDir, this.tmpDir, keepPacked as ReadonlySet<string>);
    const except = new Set<string>();
    for (const root of keepPacked as readonly Digest[]) {
      for await (const visited of walkDirectories(this, root, { dedupe: true }))
        addTreeBlobHashes(except, visited);
    }
    return installPackedBlobs(this.packs, this.objectsDir, this.tmpDir, except);
  }

  /**
   * Writes every packed blob into casd's object store and removes the packs: for a cache
   * directory whose packs nothing persists (a capture into a pack pushed to a remote, on a
   * runner whose disk outlives the job), so that casd's quota bounds them from then on.
   */
  async unpackAll(): Promise<{ installed: number; bytes: number }> {
    const names = packNames(join(this.cacheDir, PACKS_DIR));
    if (names.length === 0) return { installed: 0, bytes: 0 };
    const done = await installPackedBlobs(this.packs, this.objectsDir, this.tmpDir);
    await this.packs.close();
    this.packFiles = undefined;
    for (const name of names) await removePack(join(this.cacheDir, PACKS_DIR), name);
    return done;
  }

  /** True when the blob `digest` is in the local store. */
  async containsFile(digest: Digest): Promise<boolean> {
    return this.packs.has(digest.hash) || (await exists(this.objectPath(digest)));
  }

  /** Reads the pack files again at next use (after a pack was added or removed). */
  reloadPacks(): void {
    const old = this.packFiles;
    this.packFiles = undefined;
    void old?.close();
  }

  /** The local store's pack files (read once, at first use). */
  get packs(): PackFiles {
    this.packFiles ??= new PackFiles(join(this.cacheDir, PACKS_DIR));
    return this.packFiles;
  }

  /**
   * True when blob `digest` is local: in a pack or an object file. Synchronous: an existence
   * check of a cached inode costs microseconds, a thread-pool round trip much more. The packs
   * are asked first: after a restore most blobs are only there, and each miss on the object
   * store costs a path and a syscall.
   */
  hasBlob(digest: Digest): boolean {
    return this.packs.has(digest.hash) || existsSync(this.objectPath(digest));
  }

  /**
   * A hasBlob for `checks` calls to come: when casd's object store holds fewer than
   * LIST_OBJECTS_PER_CHECK times that many objects (a fresh runner's: none or what the job's
   * tools wrote; a restored tree's, checked for being still there), their names are listed once
   * and each check is a lookup; else each is a hasBlob. The list is of this moment: an object
   * casd stores later counts as absent, which costs a duplicate or a second hashing, never a
   * loss. Measured at 13,800 objects: listing them 12-19 ms, an existence check each 61-73 ms.
   */
  presenceCheck(checks: number): (digest: Digest) => boolean {
    const objects = listObjects(this.objectsDir, checks * LIST_OBJECTS_PER_CHECK);
    if (!objects) return (digest) => this.hasBlob(digest);
    return (digest) => this.packs.has(digest.hash) || objects.has(digest.hash);
  }

  /** The bytes of blob `digest` (not checked). Throws CasError('blob-not-found') when not local. */
  async readBlob(digest: Digest): Promise<Buffer> {
    // From a pack when one holds it: a failed readFile costs an error with its stack.
    if (this.packs.has(digest.hash)) return this.packs.read(digest.hash);
    try {
      return await readFile(this.objectPath(digest));
    } catch (err) {
      throw new CasError('blob-not-found', `blob ${formatDigest(digest)} is not in the local cache`, {
        cause: err,
      });
    }
  }

  /**
   * Writes blob `digest` to the new file `dest` with `mode` (0755 or 0644), refusing to
   * replace anything: a copy of the object file, or a slice of its pack. Why not fewer calls
   * for object files: skipping the chmod, readFile + writeFile with the mode for small files,
   * or synchronous copies on the main thread all measured the same (bench/copy-variants.ts):
   * the cost is the kernel creating the inode, not the calls around it.
   */
  async copyBlobTo(digest: Digest, dest: string, mode: number): Promise<void> {
    // A packed blob is sliced out of its pack at once: after a restore most are only there,
    // and a failed copyFile first cost ~50 µs of main-thread time each (profiled).
    if (this.packs.has(digest.hash)) return this.packs.copyTo(digest.hash, dest, mode);
    try {
      await copyFile(this.objectPath(digest), dest, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' || !this.packs.has(digest.hash)) throw err;
      await this.packs.copyTo(digest.hash, dest, mode);
      return;
    }
    // copyFile gives the copy the object's mode (0444).
    await chmod(dest, mode);
  }

  /**
   * True when the Directory `digest` and every Directory below it are in the store, and,
   * with `withFiles` (the default), every file blob too. A dangling tree gives false.
   * `touch` also updates the mtime of every object checked, so casd's LRU keeps them.
   * Throws CasError('unsafe-tree' | 'corrupt-data') when a Directory is hostile or broken.
   */
  async containsDirectory(
    digest: Digest,
    options: { withFiles?: boolean; touch?: boolean } = {},
  ): Promise<boolean> {
    const withFiles = options.withFiles ?? true;
    let complete = true;
    // Why synchronous: checking (or touching) a cached inode takes microseconds, while a
    // round trip through libuv's thread pool for each of 10,000 objects costs ~0.3 s.
    const check = (d: Digest): void => {
      const path = this.objectPath(d);
      if (!options.touch) {
        if (!this.hasBlob(d)) complete = false;
        return;
      }
      try {
        const now = new Date();
        utimesSync(path, now, now);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
        if (!this.packs.has(d.hash)) complete = false;
      }
    };
    try {
      for await (const visited of walkDirectories(this, digest, { dedupe: true })) {
        if (options.touch) check(visited.digest);
        if (withFiles) {
          for (const file of visited.directory.files) check(file.digest as Digest);
          if (!complete) return false;
        }
      }
    } catch (err) {
      if (err instanceof CasError && err.reason === 'blob-not-found') return false;
      throw err;
    }
    return complete;
  }

  /**
   * Reads, checks and decodes the Directory `digest` from the object store. The bytes must
   * hash to `digest` and every entry must be safe (see validateDirectory).
   * Throws CasError('blob-not-found') when absent, 'corrupt-data' when the blob does not
   * match (naming the object as corrupt, see corruptObject) or parse, 'unsafe-tree' when it
   * names unsafe entries.
   */
  async readDirectory(digest: Digest): Promise<Directory> {
    // From a pack when one holds it: a failed readFile costs an error with its stack.
    const packed = this.packs.has(digest.hash);
    const path = packed ? this.packs.describe(digest.hash) : this.objectPath(digest);
    const data = packed ? await this.packs.read(digest.hash) : await readDirectoryObject(digest, path);
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== digest.hash || data.byteLength !== digest.sizeBytes) {
      throw corruptObject(digest, path, holding({ hash: actual, sizeBytes: data.byteLength }));
    }
    let directory: Directory;
    try {
      directory = Directory.decode(data);
    } catch (err) {
      throw new CasError(
        'corrupt-data',
        `blob ${formatDigest(digest)} is not a Directory message: ${(err as Error).message}`,
        { cause: err },
      );
    }
    validateDirectory(directory, digest);
    return directory;
  }

  /**
   * Writes blobs we made ourselves (Directory messages) straight into the object store, each
   * through a temporary file under `tmp` renamed into place: local only, as a capture with
   * skipUpload. For small blobs, where a round trip through casd costs more than the write.
   * casd serves them like any object (its usage figure counts them from its next start).
   * Throws CasError('corrupt-data') when a blob's bytes do not hash to its digest, 'io' when
   * the store cannot be written.
   */
  writeLocalObjects(blobs: Iterable<{ digest: Digest; data: Uint8Array }>): void {
    for (const { digest, data } of blobs) {
      const path = this.objectPath(digest);
      const actual = createHash('sha256').update(data).digest('hex');
      if (actual !== digest.hash || data.byteLength !== digest.sizeBytes) {
        throw new CasError(
          'corrupt-data',
          `blob for ${formatDigest(digest)} hashes to ${actual}/${data.byteLength}`,
        );
      }
      if (existsSync(path)) continue;
      const tmp = join(this.tmpDir, `obj-${process.pid}-${randomBytes(6).toString('hex')}`);
      try {
        // Why synchronous: a few hundred small writes; each async one waits on the thread pool.
        writeFileSync(tmp, data, { mode: 0o444 });
        renameSync(tmp, path);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw new CasError('io', `cannot write object ${formatDigest(digest)} to ${path}: ${errnoOf(err)}`, {
          cause: err,
        });
      }
    }
  }

  /**
   * Adds one blob, from a file or from memory, through LocalCAS CaptureFiles; returns its
   * digest. A buffer is first written to a temporary file under `cas/tmp`.
   * Throws CasError('cache-too-full') when casd answers RESOURCE_EXHAUSTED.
   */
  async addObject(source: ObjectSource): Promise<Digest> {
    if ('path' in source) return (await this.addObjects([source.path]))[0];
    const tmp = join(this.tmpDir, `add-${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      await writeFile(tmp, source.buffer, { mode: 0o644 });
    } catch (err) {
      throw new CasError('io', `cannot write a temporary object to ${tmp}: ${errnoOf(err)}`, { cause: err });
    }
    try {
      return (await this.capture([tmp], [`a ${source.buffer.byteLength}-byte buffer`], true))[0];
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * Adds files by path (batched CaptureFiles calls); returns their digests in input order.
   * Throws a CasError naming the first path casd could not capture ('cache-too-full' when
   * casd answers RESOURCE_EXHAUSTED).
   */
  async addObjects(paths: string[]): Promise<Digest[]> {
    const absolute = paths.map((p) => resolve(p));
    return this.capture(absolute, absolute);
  }

  // `move`: the paths are our own temporary files, which casd may take into its store.
  private async capture(paths: string[], labels: string[], move = false): Promise<Digest[]> {
    const digests: Digest[] = [];
    for (let start = 0; start < paths.length; start += STORE_CAPTURE_BATCH) {
      const batch = paths.slice(start, start + STORE_CAPTURE_BATCH);
      const responses = await captureFiles(this.connection, batch, {
        instanceName: this.instanceName,
        skipUpload: this.skipUpload,
        moveFiles: move,
      });
      responses.forEach((response, i) => {
        const label = labels[start + i];
        const error = statusToCasError(response.status, `adding ${label} to the cache`);
        if (error) throw error;
        if (!response.digest) throw new CasError('remote-error', `CaptureFiles gave no digest for ${label}`);
        digests.push(response.digest);
      });
    }
    return digests;
  }

  /**
   * Imports the directory tree at `path` through LocalCAS CaptureTree; returns the digest of
   * its root Directory. Throws a CasError naming the path when casd cannot capture it.
   */
  async importDirectory(path: string): Promise<Digest> {
    const absolute = resolve(path);
    const [response] = await captureTree(this.connection, [absolute], {
      instanceName: this.instanceName,
      skipUpload: this.skipUpload,
    });
    const error = statusToCasError(response.status, `importing directory ${absolute}`);
    if (error) throw error;
    if (!response.rootDirectoryDigest) {
      throw new CasError('remote-error', `CaptureTree gave no root Directory digest for ${absolute}`);
    }
    return response.rootDirectoryDigest;
  }

  /** Stores a Directory message (serialised) and returns its digest. */
  async putDirectory(directory: Directory): Promise<Digest> {
    return this.addObject({ buffer: Directory.encode(directory).finish() });
  }

  /**
   * The digests among `digests` that are not in the local store, by object existence,
   * de-duplicated by hash, in first-seen order.
   */
  async localMissingBlobs(digests: Iterable<Digest> | AsyncIterable<Digest>): Promise<Digest[]> {
    const seen = new DigestSet();
    const missing: Digest[] = [];
    // Synchronous existence checks, as in containsDirectory.
    const present = Array.isArray(digests)
      ? this.presenceCheck(digests.length)
      : (d: Digest) => this.hasBlob(d);
    for await (const digest of digests) {
      if (seen.add(digest) && !present(digest)) missing.push(digest);
    }
    return missing;
  }

  /**
   * Updates the mtime of every object reachable from the Directory `digest` (so casd's LRU
   * expiry keeps the tree). Objects already gone are skipped.
   */
  async touchTree(digest: Digest): Promise<void> {
    const now = new Date();
    const touch = async (d: Digest): Promise<void> => {
      await utimes(this.objectPath(d), now, now).catch((err: unknown) => {
        if (errnoOf(err) !== 'ENOENT') throw err;
      });
    };
    const files = new DigestSet();
    const onMissing = (missing: Digest): void =>
      this.logger.debug(`touchTree ${formatDigest(digest)}: Directory ${formatDigest(missing)} is gone`);
    for await (const visited of walkDirectories(this, digest, { dedupe: true, onMissing })) {
      await touch(visited.digest);
      const fresh = visited.directory.files.map((f) => f.digest as Digest).filter((d) => files.add(d));
      await forEachLimit(fresh, STORE_FS_CONCURRENCY, touch);
    }
  }
}

/** How many objects listing costs as much as one existence check (1.3 µs a name, 4.8 µs a check). */
const LIST_OBJECTS_PER_CHECK = 3;

/**
 * The hashes of casd's object files (`<objects>/<2 hex>/<62 hex>`), or undefined once there
 * are more than `limit` (then listing them costs more than it saves).
 */
function listObjects(objectsDir: string, limit: number): Set<string> | undefined {
  const hashes = new Set<string>();
  for (const prefix of readdirOrEmpty(objectsDir)) {
    if (prefix.length !== 2) continue;
    for (const rest of readdirOrEmpty(join(objectsDir, prefix))) {
      hashes.add(prefix + rest);
      if (hashes.size > limit) return undefined;
    }
  }
  return hashes;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
