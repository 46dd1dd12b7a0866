import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
import { lstat, readdir, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { isCasError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import { forEachLimit } from '../../util/concurrency.js';
import { type Digest, formatDigest } from '../digest.js';
import { VERIFY_CONCURRENCY, VERIFY_READ_CHUNK_BYTES, VERIFY_SYNC_READ_BYTES } from '../options.js';
import type { CasStore } from './store.js';
import { DigestSet } from '../trees/tree.js';

export { VERIFY_CONCURRENCY } from '../options.js';

const readAsync = promisify(read);

const PREFIX_DIR = /^[0-9a-f]{2}$/;
const REST_NAME = /^[0-9a-f]{62}$/;

/** An object to check: its hash, and its size when known (a tree names it, a scan does not). */
export interface ObjectName {
  hash: string;
  sizeBytes?: number;
}

/** What re-hashing one object found. `actual` is what its file holds. */
export type ObjectCheck =
  | { status: 'ok'; bytes: number }
  | { status: 'missing' }
  | { status: 'corrupt'; bytes: number; actual: Digest; path: string; evicted: boolean };

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

function objectFile(store: CasStore, object: ObjectName): string {
  return store.objectPath({ hash: object.hash, sizeBytes: object.sizeBytes ?? 0 });
}

/**
 * Re-hashes (SHA-256, streamed) the object file of `object` in `store`. When its content
 * does not match (hash, and size when given) and `evict` is set, removes the file, unless
 * it was replaced while being read (then the new file is another process's good copy).
 * Returns what was found; throws the fs error when the file exists but cannot be read.
 */
export async function checkObject(
  store: CasStore,
  object: ObjectName,
  options: { evict?: boolean } = {},
): Promise<ObjectCheck> {
  const path = objectFile(store, object);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { status: 'missing' };
    throw err;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  let info;
  try {
    info = fstatSync(fd, { bigint: true });
    // Why synchronous for small objects: a read of a cached file takes microseconds, a round
    // trip through libuv's thread pool tens of them; most objects are small.
    const sync = info.size <= VERIFY_SYNC_READ_BYTES;
    const buffer = Buffer.allocUnsafe(sync ? Number(info.size) + 1 : VERIFY_READ_CHUNK_BYTES);
    for (;;) {
      const bytesRead = sync
        ? readSync(fd, buffer, 0, buffer.byteLength, null)
        : (await readAsync(fd, buffer, 0, buffer.byteLength, null)).bytesRead;
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
  } finally {
    closeSync(fd);
  }
  const actual: Digest = { hash: hash.digest('hex'), sizeBytes: bytes };
  if (actual.hash === object.hash && (object.sizeBytes === undefined || bytes === object.sizeBytes)) {
    return { status: 'ok', bytes };
  }
  let evicted = false;
  if (options.evict) {
    const now = await lstat(path, { bigint: true }).catch(() => undefined);
    if (now && now.ino === info.ino && now.dev === info.dev) {
      await unlink(path).catch((err: unknown) => {
        if (errnoOf(err) !== 'ENOENT') throw err;
      });
      evicted = true;
    }
  }
  return { status: 'corrupt', bytes, actual, path, evicted };
}

/** An object verifyStore removed: the digest it was stored under and what its file held. */
export interface EvictedObject {
  hash: string;
  /** Known when a tree named the object (verify with roots); a scan of every object knows only the hash. */
  sizeBytes?: number;
  path: string;
  actual: Digest;
}

export interface VerifyOptions {
  /** Check only the objects reachable from these trees (Directory digests); default every object. */
  roots?: Digest[];
  /** Objects hashed at once (default VERIFY_CONCURRENCY). */
  concurrency?: number;
  /** Hears of each object checked, with its size: for progress lines. */
  onChecked?: (bytes: number) => void;
  logger?: Logger;
}

export interface VerifyResult {
  /** Objects re-hashed. */
  checked: number;
  /** Bytes re-hashed. */
  bytes: number;
  /** Objects a tree names that the local cache does not hold (with roots only). */
  missing: number;
  evicted: EvictedObject[];
}

/** `HASH/SIZE` when the size is known, else `HASH`: how an evicted object is named. */
export function formatObjectName(object: ObjectName): string {
  return object.sizeBytes === undefined
    ? object.hash
    : formatDigest({ hash: object.hash, sizeBytes: object.sizeBytes });
}

/**
 * The fsck of the local cache: re-hashes every object of `store` (or, with `roots`, every
 * object reachable from those trees) and evicts each one whose content no longer matches its
 * digest, so that the next restore fetches a good copy from a remote or misses cleanly. Files
 * are streamed, `concurrency` at a time; with roots, a damaged Directory is evicted and the
 * part of the tree below it is not reached. Returns the counts and the evicted objects.
 * Throws the fs error of an object that cannot be read.
 */
export async function verifyStore(store: CasStore, options: VerifyOptions = {}): Promise<VerifyResult> {
  const logger = options.logger ?? silentLogger;
  const result: VerifyResult = { checked: 0, bytes: 0, missing: 0, evicted: [] };
  const record = (object: ObjectName, check: ObjectCheck): void => {
    if (check.status === 'missing') {
      result.missing++;
      return;
    }
    result.checked++;
    result.bytes += check.bytes;
    options.onChecked?.(check.bytes);
    if (check.status === 'corrupt' && check.evicted) {
      result.evicted.push({ ...object, path: check.path, actual: check.actual });
    }
  };
  const objects = options.roots
    ? reachableFiles(store, options.roots, record, logger)
    : everyObject(store.objectsDir);
  await forEachLimit(objects, options.concurrency ?? VERIFY_CONCURRENCY, async (object) => {
    record(object, await checkObject(store, object, { evict: true }));
  });
  return result;
}

// Every object file name under `<objects>/<2 hex>/<62 hex>`, one prefix directory at a time.
async function* everyObject(objectsDir: string): AsyncGenerator<ObjectName> {
  const prefixes = (await readdir(objectsDir).catch(() => [] as string[])).filter((n) => PREFIX_DIR.test(n));
  for (const prefix of prefixes.sort()) {
    const names = await readdir(join(objectsDir, prefix)).catch(() => [] as string[]);
    for (const rest of names) if (REST_NAME.test(rest)) yield { hash: prefix + rest };
  }
}

// The file blobs reachable from `roots`, each once. Directories are checked here, as they are
// read (a damaged one is evicted through `record` and not descended into).
async function* reachableFiles(
  store: CasStore,
  roots: Digest[],
  record: (object: ObjectName, check: ObjectCheck) => void,
  logger: Logger,
): AsyncGenerator<ObjectName> {
  const seen = new DigestSet();
  const stack = roots.filter((root) => seen.add(root));
  while (stack.length > 0) {
    const digest = stack.pop() as Digest;
    let directory;
    try {
      directory = await store.readDirectory(digest);
    } catch (err) {
      if (isCasError(err, 'blob-not-found')) {
        record(digest, { status: 'missing' });
      } else if (isCasError(err, 'corrupt-data')) {
        const check = await checkObject(store, digest, { evict: true });
        record(digest, check);
        // Its bytes match its digest but are no Directory: not damage, and not ours to remove.
        if (check.status === 'ok') logger.warning(`${formatDigest(digest)}: ${(err as Error).message}`);
      } else if (isCasError(err, 'unsafe-tree')) {
        record(digest, { status: 'ok', bytes: digest.sizeBytes });
        logger.warning(`not walking below ${formatDigest(digest)}: ${(err as Error).message}`);
      } else {
        throw err;
      }
      continue;
    }
    record(digest, { status: 'ok', bytes: digest.sizeBytes });
    for (const child of directory.directories) {
      if (seen.add(child.digest as Digest)) stack.push(child.digest as Digest);
    }
    for (const file of directory.files) {
      const fileDigest = file.digest as Digest;
      if (seen.add(fileDigest)) yield fileDigest;
    }
  }
}
