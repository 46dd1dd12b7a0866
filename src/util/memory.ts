import { readFileSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's young generation at its starting size for the rest of the process.
 *
 * Why: V8 sizes the heap for speed, not for a CI step sharing a runner with the build. It
 * doubles the young generation whenever many young objects survive a scavenge, up to a limit
 * set from the machine's memory (134 MB committed on this 24 GiB machine). A capture of
 * 100,000 files creates that many lasting objects quickly and grows it to that limit. The
 * start-up flag (--max-semi-space-size) is out of reach, since the runner starts `node`, but
 * the growth factor is read at each growth, so setting it to 1 at run time stops the growth.
 * Measured with bench/capture-memory.ts (100,000 files; BENCHMARKS.md has the table):
 * - this: captures peak at 239-266 MB into a pack and 318-338 MB with the stat cache, in
 *   about the same time (2.1-2.9 s with the stat cache, against 2.2-2.5 s);
 * - as Node leaves it: 367-400 MB and 397-421 MB;
 * - also growing the old generation by at most 30% (--heap-growing-percent=30): 265-274 MB
 *   with the stat cache, but up to 40% slower in some runs (more full collections): not taken.
 */
export function boundHeapGrowth(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * This process's peak resident memory since the last resetPeakRss, in bytes: VmHWM from
 * /proc, else the lifetime peak Node reports (where there is no /proc).
 */
export function peakRssBytes(): number {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

/**
 * Starts a new peak for peakRssBytes (Linux: writing 5 to /proc/self/clear_refs sets VmHWM to
 * the current RSS). False where that is not allowed: the peak then stays the lifetime's.
 */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
