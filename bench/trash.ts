/**
 * Deferred deletion for benches that create and drop many files. This VM's ext4 runs without
 * a journal, and without one the kernel will not reuse an inode deleted in the last 60 s (360 s
 * while its inode-table block is dirty, which every new inode beside it makes it): each new
 * inode is found by scanning past every such one (`recently_deleted()` in fs/ext4/ialloc.c).
 * A job that starts right after the previous job's 20,000 files were removed so pays seconds
 * of kernel time per 10,000 files it creates (`perf`: 60-70% of `tar -x`'s samples in
 * `recently_deleted`), and that cost moves with whatever was deleted in the minutes before.
 * A hosted runner starts on a fresh disk with a journaled ext4, which never pays it, so a
 * bench moves what it is done with here and deletes it all at its end.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statfsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { sleep } from '../src/util/concurrency.js';

/** How long the kernel may still skip a deleted inode (RECENTCY_MIN + RECENTCY_DIRTY), and some. */
const RECENTCY_MS = 370_000;

export class Trash {
  /** Times the trash was emptied before the end for want of disk space (each then waited out). */
  emptiedEarly = 0;
  private count = 0;

  /** `dir` on the filesystem of what goes in (a rename does not free inodes). */
  constructor(
    readonly dir: string,
    private readonly minFreeBytes = 20e9,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Moves `path` into the trash, if it exists. */
  put(path: string): void {
    if (existsSync(path)) renameSync(path, join(this.dir, `${this.count++}-${basename(path)}`));
  }

  /**
   * Empties the trash if the disk runs short, then waits until the kernel reuses what it
   * freed, so that no measured job pays for the deletion. Call between jobs.
   */
  async makeRoom(onWait?: (ms: number) => void): Promise<void> {
    const fs = statfsSync(this.dir);
    if (fs.bavail * fs.bsize >= this.minFreeBytes) return;
    this.empty();
    this.emptiedEarly++;
    execFileSync('sync');
    onWait?.(RECENTCY_MS);
    await sleep(RECENTCY_MS);
  }

  empty(): void {
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
  }
}
