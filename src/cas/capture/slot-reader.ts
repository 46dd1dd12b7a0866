import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * Reads files into reused buffers (slots) for a capture into a pack. On the main thread while
 * reads come from the page cache, the usual case just after a build or a checkout: 3 syscalls
 * instead of 3 thread-pool round trips (a capture of 10,000 files: 1.2 s to 0.7-0.9 s here).
 * On the thread pool, with the caller's read-ahead, for good once reads take longer than
 * `slowNs` more than now and then (SlowReads): on a cold disk reads in parallel win.
 */
export class SlotReader {
  private sync = true;
  private readonly slow: SlowReads;

  /** `slowNs`: the read time past which a read counts as slow (tests lower it). */
  constructor(slowNs = SYNC_READ_SLOW_NS) {
    this.slow = new SlowReads(slowNs);
  }

  /** True while reads run on the main thread. */
  get onMainThread(): boolean {
    return this.sync;
  }

  /** The bytes of the file at `path` read into `slot`, or 'large' when they fill it. */
  async read(path: string, slot: Buffer): Promise<Buffer | 'large'> {
    if (!this.sync) {
      const handle = await open(path, 'r');
      try {
        return await fill(
          slot,
          async (offset) => (await handle.read(slot, offset, slot.byteLength - offset, offset)).bytesRead,
        );
      } finally {
        await handle.close();
      }
    }
    // Synchronous to the end, so that the time taken is this read's alone, not that of the
    // work other callbacks do in between.
    const start = process.hrtime.bigint();
    const fd = openSync(path, 'r');
    try {
      return fillSync(slot, (offset) => readSync(fd, slot, offset, slot.byteLength - offset, offset));
    } finally {
      closeSync(fd);
      if (this.slow.record(process.hrtime.bigint() - start)) this.sync = false;
    }
  }
}

/**
 * Tells reads that are slow for good (a cold disk) from outliers: a count of slow reads that
 * decays by SLOW_READ_DECAY a read. Four slow reads in a row pass SLOW_READ_SCORE; so does
 * every other read slow, while one in ten never does. Why: on a tree just written (the first
 * save's), about one page-cached read in 1,000 takes over 2 ms; moving to the thread pool for
 * good at the first one made the reads of 10,000 files 0.37-0.45 s instead of 0.13-0.19 s.
 */
export class SlowReads {
  private score = 0;

  constructor(private readonly slowNs: bigint) {}

  /** Records one read's time; true once reads are slow more than now and then. */
  record(ns: bigint): boolean {
    this.score = this.score * SLOW_READ_DECAY + (ns > this.slowNs ? 1 : 0);
    return this.score > SLOW_READ_SCORE;
  }
}

/** A read of a page-cached file of up to 1 MiB takes well under this (0.05-0.3 ms here). */
const SYNC_READ_SLOW_NS = 2_000_000n;
const SLOW_READ_DECAY = 0.9;
const SLOW_READ_SCORE = 3;

// fill, with a synchronous read.
function fillSync(slot: Buffer, readAt: (offset: number) => number): Buffer | 'large' {
  let filled = 0;
  for (;;) {
    const bytesRead = readAt(filled);
    if (bytesRead === 0) return slot.subarray(0, filled);
    filled += bytesRead;
    if (filled === slot.byteLength) return 'large';
  }
}

// Fills `slot` from the start by `readAt(offset)` (bytes read) until the end of the file, or
// 'large' once it is full.
async function fill(slot: Buffer, readAt: (offset: number) => Promise<number>): Promise<Buffer | 'large'> {
  let filled = 0;
  for (;;) {
    const bytesRead = await readAt(filled);
    if (bytesRead === 0) return slot.subarray(0, filled);
    filled += bytesRead;
    if (filled === slot.byteLength) return 'large';
  }
}
