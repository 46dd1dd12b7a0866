import { createHash, randomBytes } from 'node:crypto';
import {
  close as closeCallback,
  open as openCallback,
  write as writeCallback,
  closeSync,
  existsSync,
  openSync,
  read as readCallback,
  readFileSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { promisify } from 'node:util';
import { type FileHandle, chmod, copyFile, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CasError } from '../../errors.js';
import { forEachLimit } from '../../util/concurrency.js';
import type { Digest } from '../digest.js';
import {
  PACK_COPY_CHUNK_BYTES,
  PACK_INSTALL_CONCURRENCY,
  PACK_VERIFY_WINDOW_BYTES,
  PACK_WRITE_BUFFER_BYTES,
  PACK_WRITE_READ_AHEAD,
} from '../options.js';

/**
 * Pack files: many blobs in one data file with an index, as git packs and CARv2 are, so that
 * restoring a pack writes one big file (bulk data is cheap here; inodes are not) and files
 * are sliced out of it straight to where they are wanted. A pack `<name>` is two files:
 *
 *   <name>.pack  the blobs' bytes, concatenated (sorted by hash, or in the order a capture
 *                read them; the index gives each blob's place)
 *   <name>.idx   `casd-pack 2` on the first line, then one `<sha256 hex> <offset> <length>`
 *                line per blob, sorted by hash
 *
 * The local store keeps packs in `<cacheDir>/cas/packs/` (PACKS_DIR) beside casd's objects:
 * their blobs are local (CasStore reads them), though casd itself does not serve them until
 * installPackedBlobs writes them into its object store.
 */
export const PACK_FORMAT_LINE = 'casd-pack 2';
export const PACK_DATA_SUFFIX = '.pack';
export const PACK_INDEX_SUFFIX = '.idx';

/** The local store's packs, relative to the cache directory. */
export const PACKS_DIR = join('cas', 'packs');

// The mask new files get (read once), to skip a chmod where it masks nothing of the mode.
// Worker threads may not read it: then every copy gets its chmod.
let umaskRead: number | undefined;

/**
 * Creates `path` (refusing to replace anything) holding `data`, with `mode`. Plain
 * descriptors: a FileHandle per file cost ~90 µs of main-thread time (profiled).
 */
export async function writeNewFile(path: string, data: Buffer, mode: number): Promise<void> {
  const out = await openFd(path, 'wx', mode);
  try {
    for (let done = 0; done < data.byteLength;) {
      done += (await writeFd(out, data, done, data.byteLength - done)).bytesWritten;
    }
  } finally {
    await closeFd(out);
  }
  // The mode given to open is masked by the umask; only a mode it masks needs a chmod.
  if ((mode & umask()) !== 0) await chmod(path, mode);
}

function umask(): number {
  if (umaskRead === undefined) {
    try {
      umaskRead = process.umask();
    } catch {
      umaskRead = 0o777;
    }
  }
  return umaskRead;
}
const openFd = promisify(openCallback);
const closeFd = promisify(closeCallback);
const writeFd = promisify(writeCallback) as (
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
) => Promise<{ bytesWritten: number }>;
const readAt = promisify(readCallback) as (
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
) => Promise<{ bytesRead: number }>;

/** Where one blob lives in a pack. */
export interface PackedBlob {
  /** Path of the pack's data file. */
  data: string;
  offset: number;
  length: number;
}

const HASH = /^[0-9a-f]{64}$/;

/** Formats a pack index for blobs laid out in `entries` order (offsets ascending). */
export function formatPackIndex(
  entries: readonly { hash: string; offset: number; length: number }[],
): string {
  return `${PACK_FORMAT_LINE}\n${entries.map((e) => `${e.hash} ${e.offset} ${e.length}\n`).join('')}`;
}

/**
 * Parses a pack index. Throws CasError('corrupt-data') naming `source` for another format
 * version, a malformed line, or a slice past `dataBytes` (the data file's size).
 */
export function parsePackIndex(
  text: string,
  source: string,
  dataBytes: number,
): { hash: string; offset: number; length: number }[] {
  const entries: { hash: string; offset: number; length: number }[] = [];
  forEachPackIndexEntry(text, source, dataBytes, (hash, offset, length) =>
    entries.push({ hash, offset, length }),
  );
  return entries;
}

/**
 * Calls `visit` with each blob of a pack index, as parsePackIndex checks them. Why not a list:
 * at 100,000 blobs, the lines, their fields and an object each cost ~30 MB of garbage, and a
 * save reads each index more than once.
 */
export function forEachPackIndexEntry(
  text: string,
  source: string,
  dataBytes: number,
  visit: (hash: string, offset: number, length: number) => void,
): void {
  const firstEnd = text.indexOf('\n');
  const first = firstEnd < 0 ? text : text.slice(0, firstEnd);
  if (first !== PACK_FORMAT_LINE) {
    throw new CasError(
      'corrupt-data',
      `pack index ${source}: first line ${JSON.stringify(first.slice(0, 40))}, expected ${JSON.stringify(PACK_FORMAT_LINE)}`,
    );
  }
  let line = 1;
  for (let at = firstEnd + 1; firstEnd >= 0 && at < text.length; line++) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    if (end > at) {
      // `<64 hex> <offset> <length>`: fields at fixed places up to the numbers.
      const space = text.indexOf(' ', at + 65);
      const hash = text.slice(at, at + 64);
      const offset =
        text.charCodeAt(at + 64) === 32 && space > 0 && space < end ? decimal(text, at + 65, space) : -1;
      const length = offset >= 0 ? decimal(text, space + 1, end) : -1;
      if (!HASH.test(hash) || offset < 0 || length < 0 || offset + length > dataBytes) {
        throw new CasError(
          'corrupt-data',
          `pack index ${source}, line ${line + 1}: ${JSON.stringify(text.slice(at, Math.min(end, at + 100)))}`,
        );
      }
      visit(hash, offset, length);
    }
    at = end + 1;
  }
}

/** The decimal number text[from, to) spells, or -1 when it is not one (or not a safe integer). */
function decimal(text: string, from: number, to: number): number {
  if (to <= from || to - from > 15) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Where a pack's blob bytes come from while it is written: a file holding exactly the blob. */
export type BlobBytes = (hash: string) => Promise<Buffer>;

/**
 * Writes one pack, blob by blob, under temporary names; finish() renames it into place, the
 * index last, so that a killed write leaves no pack (a stray temporary file at most).
 */
export class PackWriter {
  private readonly entries: { hash: string; offset: number; length: number }[] = [];
  private readonly added = new Set<string>();
  /** Bytes added so far; the last `pendingBytes` of them are still in `pending`. */
  private offset = 0;
  // Small blobs gather here and are written together: a write per blob (10,000 of them for
  // a tree of sources) cost a thread-pool round trip each.
  private readonly pending = Buffer.allocUnsafe(PACK_WRITE_BUFFER_BYTES);
  private pendingBytes = 0;

  private constructor(
    private readonly dir: string,
    private readonly name: string,
    private readonly tmp: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(dir: string, name: string): Promise<PackWriter> {
    await mkdir(dir, { recursive: true });
    const tmp = `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    return new PackWriter(dir, name, tmp, await open(join(dir, tmp + PACK_DATA_SUFFIX), 'w'));
  }

  /** Blobs added so far. */
  get blobs(): number {
    return this.entries.length;
  }

  /** Bytes of blob data added so far. */
  get bytes(): number {
    return this.offset;
  }

  has(hash: string): boolean {
    return this.added.has(hash);
  }

  /** Appends blob `hash` holding `data` (the caller vouches that they match); once per hash. */
  async add(hash: string, data: Uint8Array): Promise<void> {
    if (this.added.has(hash)) return;
    this.added.add(hash);
    const direct = data.byteLength > this.pending.byteLength / 2;
    if (direct || this.pendingBytes + data.byteLength > this.pending.byteLength) await this.flush();
    if (direct) {
      await this.handle.write(data, 0, data.byteLength, this.offset);
    } else {
      this.pending.set(data, this.pendingBytes);
      this.pendingBytes += data.byteLength;
    }
    this.entries.push({ hash, offset: this.offset, length: data.byteLength });
    this.offset += data.byteLength;
  }

  /** Writes the blobs gathered in `pending`. */
  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    await this.handle.write(this.pending, 0, this.pendingBytes, this.offset - this.pendingBytes);
    this.pendingBytes = 0;
  }

  /**
   * Appends the file at `path`, read through `buffer` in chunks and hashed on the way, so no
   * copy of the whole file is held. It is kept unless this pack or `held` has its digest; its
   * bytes are then overwritten by the next blob (finish() cuts off a tail). `prefilled`: bytes
   * of the file's start already in `buffer` (a read that found the file bigger than it), not
   * read again. Returns the digest of what was read.
   */
  async addFile(
    path: string,
    buffer: Buffer,
    held: (digest: Digest) => boolean,
    prefilled = 0,
  ): Promise<Digest> {
    await this.flush();
    const hash = createHash('sha256');
    const input = await open(path, 'r');
    let length = 0;
    try {
      for (let chunk = prefilled; ; chunk = 0) {
        if (chunk === 0) chunk = (await input.read(buffer, 0, buffer.byteLength, length)).bytesRead;
        if (chunk === 0) break;
        hash.update(buffer.subarray(0, chunk));
        await this.handle.write(buffer, 0, chunk, this.offset + length);
        length += chunk;
      }
    } finally {
      await input.close();
    }
    const digest: Digest = { hash: hash.digest('hex'), sizeBytes: length };
    if (!this.added.has(digest.hash) && !held(digest)) {
      this.added.add(digest.hash);
      this.entries.push({ hash: digest.hash, offset: this.offset, length });
      this.offset += length;
    }
    return digest;
  }

  /** Puts the pack in place (data file, then the index sorted by hash). Returns its data bytes. */
  async finish(): Promise<number> {
    try {
      await this.flush();
      await this.handle.truncate(this.offset);
      await this.handle.close();
      await rename(join(this.dir, this.tmp + PACK_DATA_SUFFIX), join(this.dir, this.name + PACK_DATA_SUFFIX));
      const sorted = [...this.entries].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
      await writeFile(join(this.dir, this.tmp + PACK_INDEX_SUFFIX), formatPackIndex(sorted));
      await rename(
        join(this.dir, this.tmp + PACK_INDEX_SUFFIX),
        join(this.dir, this.name + PACK_INDEX_SUFFIX),
      );
    } catch (err) {
      await this.abort();
      throw err;
    }
    return this.offset;
  }

  /** Leaves nothing behind. */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(join(this.dir, this.tmp + PACK_DATA_SUFFIX), { force: true });
    await rm(join(this.dir, this.tmp + PACK_INDEX_SUFFIX), { force: true });
  }
}

/**
 * Writes the pack `<dir>/<name>` holding `blobs` (callers sort by hash so that the same blobs
 * give the same bytes), reading each through `bytesOf` (a few ahead of the appends; each is
 * dropped once written, so a pack is written in the memory of PACK_WRITE_READ_AHEAD blobs).
 * Throws CasError('corrupt-data') for a blob of another size, leaving no pack. Returns the
 * total bytes of blob data.
 */
export async function writePack(
  dir: string,
  name: string,
  blobs: readonly { hash: string; size: number }[],
  bytesOf: BlobBytes,
): Promise<number> {
  const writer = await PackWriter.create(dir, name);
  try {
    const ahead = new Map<number, Promise<Buffer>>();
    const readAhead = (i: number): void => {
      if (i < blobs.length) ahead.set(i, bytesOf(blobs[i].hash));
    };
    for (let i = 0; i < PACK_WRITE_READ_AHEAD; i++) readAhead(i);
    for (let i = 0; i < blobs.length; i++) {
      const data = await ahead.get(i)!;
      ahead.delete(i);
      readAhead(i + PACK_WRITE_READ_AHEAD);
      if (data.byteLength !== blobs[i].size) {
        throw new CasError(
          'corrupt-data',
          `blob ${blobs[i].hash} has ${data.byteLength} bytes, ${blobs[i].size} expected; not packed`,
        );
      }
      await writer.add(blobs[i].hash, data);
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer.finish();
}

/**
 * Re-hashes every blob of the pack `<dir>/<name>` by reading its data file once, front to
 * back. Returns the hashes whose bytes do not match (their slices are not to be used).
 * Throws CasError('corrupt-data') when the index itself is broken.
 */
export async function verifyPack(dir: string, name: string): Promise<{ blobs: number; corrupt: string[] }> {
  const dataPath = join(dir, name + PACK_DATA_SUFFIX);
  const handle = await open(dataPath, 'r');
  try {
    const size = (await handle.stat()).size;
    const indexPath = join(dir, name + PACK_INDEX_SUFFIX);
    const entries = parsePackIndex(readFileSync(indexPath, 'utf8'), indexPath, size);
    const corrupt: string[] = [];
    const sorted = [...entries].sort((a, b) => a.offset - b.offset);
    // Why a window: one read per blob cost ~1.2 s for 10,000 blobs (291 MB), most of it
    // thread-pool round trips; reading the data in order, a window at a time, costs the
    // hashing and a few dozen reads.
    const window = new ReadWindow(handle, PACK_VERIFY_WINDOW_BYTES);
    for (const entry of sorted) {
      const hash = createHash('sha256');
      for (let done = 0; done < entry.length;) {
        const piece = await window.at(entry.offset + done, entry.length - done);
        if (piece.byteLength === 0) break;
        hash.update(piece);
        done += piece.byteLength;
      }
      if (hash.digest('hex') !== entry.hash) corrupt.push(entry.hash);
    }
    return { blobs: entries.length, corrupt };
  } finally {
    await handle.close();
  }
}

/**
 * Sequential reads of a file a window at a time: `at` gives the bytes at a position from the
 * current window, reading another when needed. Once a window is read, the one after it is
 * read into a second buffer while the caller works on this one (at 10,000 blobs the reads
 * were ~a third of a pack's check, the hashing the rest).
 */
export class ReadWindow {
  private current: Buffer;
  private spare: Buffer;
  private start = 0;
  private end = 0;
  /** The read of the window after the current one, into `spare`. */
  private next: { position: number; bytesRead: Promise<number> } | undefined;

  constructor(
    private readonly handle: Pick<FileHandle, 'read'>,
    bytes: number,
  ) {
    this.current = Buffer.allocUnsafe(bytes);
    this.spare = Buffer.allocUnsafe(bytes);
  }

  /** Up to `length` bytes from `position` (fewer at a window's end; none past the file's end). */
  async at(position: number, length: number): Promise<Buffer> {
    if (position < this.start || position >= this.end) {
      const next = this.next;
      this.next = undefined;
      if (next && position >= next.position && position < next.position + this.spare.byteLength) {
        const bytesRead = await next.bytesRead;
        [this.current, this.spare] = [this.spare, this.current];
        this.start = next.position;
        this.end = next.position + bytesRead;
      } else {
        // Another place: the read ahead must finish before its buffer is used again.
        await next?.bytesRead.catch(() => 0);
        const { bytesRead } = await this.handle.read(this.current, 0, this.current.byteLength, position);
        this.start = position;
        this.end = position + bytesRead;
      }
      // A window shorter than the buffer ends at the file's end: nothing after it to read.
      if (this.end - this.start === this.current.byteLength) this.readAhead(this.end);
      if (position >= this.end) return this.current.subarray(0, 0);
    }
    const from = position - this.start;
    return this.current.subarray(from, from + Math.min(length, this.end - position));
  }

  private readAhead(position: number): void {
    const bytesRead = this.handle
      .read(this.spare, 0, this.spare.byteLength, position)
      .then((done) => done.bytesRead);
    // Awaited when its window is wanted; a failure then is the caller's, and otherwise none.
    bytesRead.catch(() => undefined);
    this.next = { position, bytesRead };
  }
}

/**
 * Moves the pack `<fromDir>/<fromName>` to `<toDir>/<toName>` by rename (one filesystem), the
 * index last, so that the pack there is whole or absent.
 */
export async function movePack(
  fromDir: string,
  fromName: string,
  toDir: string,
  toName: string,
): Promise<void> {
  await mkdir(toDir, { recursive: true });
  for (const suffix of [PACK_DATA_SUFFIX, PACK_INDEX_SUFFIX]) {
    const from = join(fromDir, fromName + suffix);
    const to = join(toDir, toName + suffix);
    await rename(from, to).catch(async (err: NodeJS.ErrnoException) => {
      // The staging area (in the workspace) and the cache may be different filesystems.
      if (err.code !== 'EXDEV') throw err;
      await copyFile(from, `${to}.tmp`);
      await rename(`${to}.tmp`, to);
      await rm(from, { force: true });
    });
  }
}

/** Removes the pack `<dir>/<name>`. */
export async function removePack(dir: string, name: string): Promise<void> {
  await rm(join(dir, name + PACK_INDEX_SUFFIX), { force: true });
  await rm(join(dir, name + PACK_DATA_SUFFIX), { force: true });
}

/** Names of the whole packs (index present) in `dir`. */
export function packNames(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(PACK_INDEX_SUFFIX) && !n.startsWith('.'))
    .map((n) => n.slice(0, -PACK_INDEX_SUFFIX.length))
    .filter((n) => existsSync(join(dir, n + PACK_DATA_SUFFIX)))
    .sort();
}

/**
 * The blobs of the packs in one directory, read from their indexes: which blobs are there,
 * and their bytes, sliced out of the data files. Packs that cannot be read are left out.
 */
export class PackFiles {
  private readonly blobs = new Map<string, PackedBlob>();
  // Plain descriptors, not FileHandles: a store that is never closed (a short-lived step)
  // then leaks nothing worse than descriptors the process exit closes, without GC warnings.
  private readonly fds = new Map<string, number>();
  private readonly byPack = new Map<string, string[]>();

  /** The packs of `dir`, or only those named `only`. */
  constructor(
    readonly dir: string,
    only?: readonly string[],
  ) {
    for (const name of only ?? packNames(dir)) {
      const data = join(dir, name + PACK_DATA_SUFFIX);
      const indexPath = join(dir, name + PACK_INDEX_SUFFIX);
      const held: string[] = [];
      this.byPack.set(name, held);
      try {
        const size = statSync(data).size;
        forEachPackIndexEntry(readFileSync(indexPath, 'utf8'), indexPath, size, (hash, offset, length) => {
          held.push(hash);
          if (!this.blobs.has(hash)) this.blobs.set(hash, { data, offset, length });
        });
      } catch {
        // An unreadable pack is as good as absent: its blobs count as not local.
      }
    }
  }

  get size(): number {
    return this.blobs.size;
  }

  has(hash: string): boolean {
    return this.blobs.has(hash);
  }

  /** Where blob `hash` is, for messages: `<data file> (bytes <from>-<to>)`. */
  describe(hash: string): string {
    const blob = this.locate(hash);
    return `${blob.data} (bytes ${blob.offset}-${blob.offset + blob.length})`;
  }

  /** Every packed blob: hash -> size in bytes. */
  sizes(): Map<string, number> {
    const sizes = new Map<string, number>();
    for (const [hash, blob] of this.blobs) sizes.set(hash, blob.length);
    return sizes;
  }

  /** The blobs of each pack read, by pack name (a pack that could not be read holds none). */
  hashesByPack(): ReadonlyMap<string, readonly string[]> {
    return this.byPack;
  }

  /** Every packed blob's hash. */
  hashes(): IterableIterator<string> {
    return this.blobs.keys();
  }

  /** The bytes of blob `hash`. Throws CasError('blob-not-found') when no pack holds it. */
  async read(hash: string): Promise<Buffer> {
    const data = Buffer.allocUnsafe(this.locate(hash).length);
    await this.readInto(hash, data);
    return data;
  }

  /**
   * Reads blob `hash` into `target`, which must be exactly its size (a region of an encoded
   * request, say). Throws CasError('blob-not-found') when no pack holds it.
   */
  async readInto(hash: string, target: Buffer): Promise<void> {
    const blob = this.locate(hash);
    if (target.byteLength !== blob.length) {
      throw new CasError('invalid-input', `blob ${hash} is ${blob.length} bytes, not ${target.byteLength}`);
    }
    const fd = this.fd(blob.data);
    let done = 0;
    while (done < blob.length) {
      const { bytesRead } = await readAt(fd, target, done, blob.length - done, blob.offset + done);
      if (bytesRead === 0) throw new CasError('corrupt-data', `pack ${blob.data} ends inside blob ${hash}`);
      done += bytesRead;
    }
  }

  /**
   * Writes blob `hash` to the new file `dest` (refusing to replace anything) with `mode`: the
   * one write of that file's data. Large blobs go through in chunks.
   */
  async copyTo(hash: string, dest: string, mode: number): Promise<void> {
    const blob = this.locate(hash);
    if (blob.length <= PACK_COPY_CHUNK_BYTES) {
      await writeNewFile(dest, await this.read(hash), mode);
      return;
    }
    const fd = this.fd(blob.data);
    const out = await open(dest, 'wx', mode);
    try {
      const buffer = Buffer.allocUnsafe(PACK_COPY_CHUNK_BYTES);
      for (let done = 0; done < blob.length;) {
        const want = Math.min(buffer.byteLength, blob.length - done);
        const { bytesRead } = await readAt(fd, buffer, 0, want, blob.offset + done);
        if (bytesRead === 0) throw new CasError('corrupt-data', `pack ${blob.data} ends inside blob ${hash}`);
        await out.write(buffer, 0, bytesRead);
        done += bytesRead;
      }
    } finally {
      await out.close();
    }
    await chmod(dest, mode);
  }

  /** Closes the data files opened for reading. */
  async close(): Promise<void> {
    for (const fd of this.fds.values()) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.fds.clear();
    return Promise.resolve();
  }

  private locate(hash: string): PackedBlob {
    const blob = this.blobs.get(hash);
    if (!blob) throw new CasError('blob-not-found', `blob ${hash} is in no pack of ${this.dir}`);
    return blob;
  }

  private fd(path: string): number {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      fd = openSync(path, 'r');
      this.fds.set(path, fd);
    }
    return fd;
  }
}

/**
 * Writes the packed blobs into casd's object store (`objectsDir`), so that casd serves them,
 * skipping those in `except` (blobs the job reads through the store, such as a tree already
 * checked out from the packs) and those already there. Each object goes through a temporary
 * file renamed into place, mode 0444 as casd's own. Returns how many were written.
 */
export async function installPackedBlobs(
  packs: PackFiles,
  objectsDir: string,
  tmpDir: string,
  except: ReadonlySet<string> = new Set(),
): Promise<{ installed: number; bytes: number }> {
  const wanted = [...packs.sizes()].filter(([hash]) => !except.has(hash));
  let installed = 0;
  let bytes = 0;
  await mkdir(tmpDir, { recursive: true });
  await forEachLimit(wanted, PACK_INSTALL_CONCURRENCY, async ([hash, size]) => {
    const dest = join(objectsDir, hash.slice(0, 2), hash.slice(2));
    if (existsSync(dest)) return;
    await mkdir(join(objectsDir, hash.slice(0, 2)), { recursive: true });
    const tmp = join(tmpDir, `pack-${process.pid}-${hash.slice(0, 16)}`);
    try {
      await packs.copyTo(hash, tmp, 0o444);
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new CasError('io', `cannot install blob ${hash} from ${packs.dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    installed += 1;
    bytes += size;
  });
  return { installed, bytes };
}
