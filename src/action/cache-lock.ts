import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
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
  const info: LockInfo = { pid: daemonPid ?? process.pid, job };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(JSON.stringify(info));
      await handle.close();
      return { dir: cacheDir, shared: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await readFile(path, 'utf8')
        .then((text) => JSON.parse(text) as LockInfo)
        .catch(() => undefined);
      if (holder && processAlive(holder.pid)) {
        return {
          dir: `${cacheDir}-${job.replace(/[^A-Za-z0-9._-]/g, '_')}`,
          shared: false,
          holder: holder.job,
        };
      }
      await rm(path, { force: true });
    }
  }
  return { dir: `${cacheDir}-${job.replace(/[^A-Za-z0-9._-]/g, '_')}`, shared: false };
}

/** Points the lock at the daemon (it outlives the main step) so liveness checks see it. */
export async function updateLock(cacheDir: string, job: string, daemonPid: number): Promise<void> {
  await writeFile(join(cacheDir, LOCK_FILE), JSON.stringify({ pid: daemonPid, job } satisfies LockInfo));
}

/** Releases the lock if this job holds it. */
export async function unlockCacheDir(cacheDir: string, job: string): Promise<void> {
  const path = join(cacheDir, LOCK_FILE);
  const holder = await readFile(path, 'utf8')
    .then((text) => JSON.parse(text) as LockInfo)
    .catch(() => undefined);
  if (holder?.job === job) await rm(path, { force: true });
}
