import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '../casd/index.js';

/** What the lock file of a cache directory says about its holder. */
interface LockInfo {
  pid: number;
  job: string;
}

const LOCK_FILE = '.casd-action.lock';

/**
 * Takes the cache directory for this job. Two jobs on one self-hosted runner must not run two
 * daemons on one directory (each expires blobs the other relies on), so a second job gets a
 * directory of its own beside it instead. A lock left by a job that is gone is taken over.
 * Returns the directory to use and whether it is the shared one.
 */
export async function lockCacheDir(
  cacheDir: string,
  job: string,
  daemonPid?: number,
): Promise<{ dir: string; shared: boolean; holder?: string }> {
  await mkdir(cacheDir, { recursive: true });
  const path = join(cacheDir, LOCK_FILE);
  const privateDir = `${cacheDir}-${job.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  // The lock is written in full beside its name, then linked into place: link() fails if the
  // name exists, so a competitor never reads a half-written lock, and only one job wins.
  const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(draft, JSON.stringify({ pid: daemonPid ?? process.pid, job } satisfies LockInfo));
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(draft, path);
        return { dir: cacheDir, shared: true };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readLock(path);
      if (holder && processAlive(holder.pid)) return { dir: privateDir, shared: false, holder: holder.job };
      // Left by a job that is gone: move it aside, and only if what moved is that stale lock
      // (not one a competitor just took) try again.
      const tombstone = `${path}.stale.${randomBytes(4).toString('hex')}`;
      if (
        !(await rename(path, tombstone).then(
          () => true,
          () => false,
        ))
      )
        continue;
      const moved = await readLock(tombstone);
      await rm(tombstone, { force: true });
      if (moved && processAlive(moved.pid)) return { dir: privateDir, shared: false, holder: moved.job };
    }
    return { dir: privateDir, shared: false };
  } finally {
    await rm(draft, { force: true });
  }
}

async function readLock(path: string): Promise<LockInfo | undefined> {
  return readFile(path, 'utf8')
    .then((text) => JSON.parse(text) as LockInfo)
    .catch(() => undefined);
}

/** Points the lock at the daemon (it outlives the main step) so liveness checks see it. */
export async function updateLock(cacheDir: string, job: string, daemonPid: number): Promise<void> {
  // Written beside and renamed over, so that nobody ever reads a half-written lock.
  const path = join(cacheDir, LOCK_FILE);
  const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(draft, JSON.stringify({ pid: daemonPid, job } satisfies LockInfo));
  await rename(draft, path);
}

/** Releases the lock if this job holds it. */
export async function unlockCacheDir(cacheDir: string, job: string): Promise<void> {
  const path = join(cacheDir, LOCK_FILE);
  if ((await readLock(path))?.job === job) await rm(path, { force: true });
}
