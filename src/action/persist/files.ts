import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { digestOfFile } from '../../cas/digest.js';
import { dirname, join } from 'node:path';
import { forEachLimit } from '../../util/concurrency.js';
import { type SmallFile, linkOrCopy, listSmallFiles, objectPath } from './layout.js';
import { BLOB_FILE_CONCURRENCY, SMALL_FILE_CONCURRENCY } from './options.js';

/**
 * A digest of the small files' paths and contents (not their times: touching a ref for LRU
 * is not a change worth a new index).
 */
export async function digestSmallFiles(files: readonly SmallFile[]): Promise<string> {
  const contentHashes = new Array<string>(files.length);
  await forEachLimit(files, SMALL_FILE_CONCURRENCY, async (file, i) => {
    contentHashes[i] = createHash('sha256')
      .update(await readFile(file.abs))
      .digest('hex');
  });
  const digest = createHash('sha256');
  files.forEach((file, i) => digest.update(`${file.rel}\0${contentHashes[i]}\n`));
  return digest.digest('hex');
}

/** Links (or copies) the small files under `destRoot`, keeping their relative paths. */
export async function stageSmallFiles(files: readonly SmallFile[], destRoot: string): Promise<void> {
  await forEachLimit(files, SMALL_FILE_CONCURRENCY, (file) =>
    linkOrCopy(file.abs, join(destRoot, ...file.rel.split('/'))),
  );
}

/**
 * Moves restored small files from `stagedRoot` into `cacheDir`. A file already there wins
 * when it is at least as new as the restored one (a self-hosted runner may hold newer refs).
 * Returns how many files were put in place.
 */
export async function installSmallFiles(stagedRoot: string, cacheDir: string): Promise<number> {
  let installed = 0;
  for (const file of await listSmallFiles(stagedRoot)) {
    const dest = join(cacheDir, ...file.rel.split('/'));
    const existing = await stat(dest).catch(() => undefined);
    if (existing && existing.mtimeMs >= file.mtimeMs) continue;
    await mkdir(dirname(dest), { recursive: true });
    await rename(file.abs, dest);
    installed += 1;
  }
  return installed;
}

export interface InstalledBlobs {
  moved: number;
  movedBytes: number;
  /** Hashes the manifest listed but the pack did not contain. */
  missing: string[];
  /** Blobs whose bytes do not match their name; not installed. */
  corrupt: string[];
}

/**
 * Moves the blobs of a restored pack into the object directory by rename (same filesystem).
 * Blobs already present are left alone: objects are immutable, so either copy is right.
 * Across filesystems a blob is copied into `tmpDir` (on the object directory's filesystem,
 * used for nothing else) and renamed in from there: an object file is never seen
 * half-written, since casd would serve it as it is and a later restore keeps any object that
 * exists.
 */
export async function installPackBlobs(
  packDir: string,
  hashes: readonly string[],
  objectsDir: string,
  tmpDir: string,
): Promise<InstalledBlobs> {
  const stagedObjects = join(packDir, 'objects');
  const result: InstalledBlobs = { moved: 0, movedBytes: 0, missing: [], corrupt: [] };
  // What a killed restore left there (the cache directory's lock keeps it this job's own).
  await rm(tmpDir, { recursive: true, force: true });
  await forEachLimit(hashes, BLOB_FILE_CONCURRENCY, async (hash) => {
    const dest = objectPath(objectsDir, hash);
    if (await stat(dest).catch(() => undefined)) return;
    const src = objectPath(stagedObjects, hash);
    const info = await stat(src).catch(() => undefined);
    if (!info) {
      result.missing.push(hash);
      return;
    }
    // Whatever came out of the Actions cache is checked against its name before casd serves it.
    if ((await digestOfFile(src)).hash !== hash) {
      result.corrupt.push(hash);
      return;
    }
    await mkdir(dirname(dest), { recursive: true });
    await rename(src, dest).catch(async (err: NodeJS.ErrnoException) => {
      // The workspace (staging) and the cache may be different filesystems.
      if (err.code !== 'EXDEV') throw err;
      await mkdir(tmpDir, { recursive: true });
      const copy = join(tmpDir, `${hash}.${process.pid}.copy`);
      try {
        await copyFile(src, copy);
        await rename(copy, dest);
      } finally {
        await rm(copy, { force: true });
      }
    });
    result.moved += 1;
    result.movedBytes += info.size;
  });
  return result;
}
