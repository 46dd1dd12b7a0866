import * as core from '@actions/core';
import { formatBytes } from '../util/size.js';
import { peakRssBytes, resetPeakRss } from '../util/memory.js';
import type { JobStatusResult } from './job-status.js';

/** Counters of one run, filled in by the main and post steps, rendered by summary.ts. */
export interface RunStats {
  /** Blobs under the restored trees, and how many had to come from the remote. */
  blobsNeeded: number;
  blobsFetched: number;
  bytesFetched: number;
  /** Blobs asked about, how many the remote lacked, and what was uploaded. */
  blobsChecked: number;
  /** Blobs not asked about: a tree the remote vouched for holds them (PushOptions.presentTrees). */
  blobsSkipped: number;
  blobsMissing: number;
  blobsUploaded: number;
  bytesUploaded: number;
  /** Actions-cache persistence. */
  persistBytesDownloaded: number;
  persistBytesUploaded: number;
  /** Phase name -> milliseconds. */
  phaseMs: Record<string, number>;
  /** Phase name -> the step process's peak resident memory during it, in bytes. */
  phasePeakRss?: Record<string, number>;
  usedBytes?: number;
  quotaBytes?: number;
}

export function emptyStats(): RunStats {
  return {
    blobsNeeded: 0,
    blobsFetched: 0,
    bytesFetched: 0,
    blobsChecked: 0,
    blobsSkipped: 0,
    blobsMissing: 0,
    blobsUploaded: 0,
    bytesUploaded: 0,
    persistBytesDownloaded: 0,
    persistBytesUploaded: 0,
    phaseMs: {},
  };
}

/** Everything the job summary shows. */
export interface RunReport {
  casdVersion?: string;
  remote?: string;
  stats: RunStats;
  /** The same key's stats from the previous run, for the trend column. */
  previous?: RunStats;
  matchedKey?: string;
  cacheHit: boolean;
  /** lookup-only: matchedKey was found, not restored. */
  lookupOnly?: boolean;
  refsRestored: string[];
  refsMissing: string[];
  refsPushed: string[];
  /** How many restore-key pointers were published on the remote (see keys.ts pointerRef). */
  pointersPushed?: number;
  /** `path` patterns that matched nothing at save time. */
  pathsUnmatched?: string[];
  /** Whether refs were published, and why (not). */
  refsCommitted: boolean;
  refsNote: string;
  jobStatus?: JobStatusResult;
  daemonExit?: {
    exitCode: number | null;
    signal: string | null;
    killed: boolean;
    /** It had already died when post came to stop it. */
    diedEarly?: boolean;
    logPath?: string;
  };
  warnings: string[];
  /** Why the local cache was not saved to the Actions cache: it is read-only for this run. */
  actionsCacheReadOnly?: string;
  /** A phase hit its deadline: the daemon may be stuck on the remote. */
  timedOut?: boolean;
  /**
   * Objects the job damaged by writing into files restored as hard links (restore-links), each
   * evicted before the capture: the linked paths and the digest the object was stored under.
   */
  linkWrites?: { paths: string[]; digest: string }[];
}

/**
 * Hit ratio of the restore: the share of needed blobs that were already in the local cache.
 * Undefined when nothing was restored.
 */
export function hitRatio(stats: RunStats): number | undefined {
  if (stats.blobsNeeded === 0) return undefined;
  return (stats.blobsNeeded - stats.blobsFetched) / stats.blobsNeeded;
}

/** Measures `body` and records its duration and peak memory under `phase`. */
export async function timed<T>(stats: RunStats, phase: string, body: () => Promise<T>): Promise<T> {
  const start = performance.now();
  resetPeakRss();
  try {
    return await body();
  } finally {
    stats.phaseMs[phase] = (stats.phaseMs[phase] ?? 0) + Math.round(performance.now() - start);
    const peaks = (stats.phasePeakRss ??= {});
    const peak = peakRssBytes();
    peaks[phase] = Math.max(peaks[phase] ?? 0, peak);
    core.debug(`${phase}: ${Math.round(performance.now() - start)} ms, peak RSS ${formatBytes(peak)}`);
  }
}

/** The highest phase peak and its phase, or undefined when no phase recorded one. */
export function peakPhase(stats: RunStats): { phase: string; bytes: number } | undefined {
  let peak: { phase: string; bytes: number } | undefined;
  for (const [phase, bytes] of Object.entries(stats.phasePeakRss ?? {})) {
    if (!peak || bytes > peak.bytes) peak = { phase, bytes };
  }
  return peak;
}
