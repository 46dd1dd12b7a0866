import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Connection } from '../grpc/connection.js';
import { grpcToCasError, unary } from '../grpc/call.js';
import { type Logger, silentLogger } from '../logger.js';
import { forEachLimit } from '../util/concurrency.js';
import { formatUsedOfQuota } from '../util/size.js';
import { USAGE_SCAN_DIR_CONCURRENCY, USAGE_SCAN_FILE_CONCURRENCY } from './options.js';

/** The local cache's size. */
export interface CacheUsage {
  usedBytes: number;
  /** 0 when casd runs without a quota. */
  quotaBytes: number;
}

/**
 * Asks casd (LocalCAS GetLocalDiskUsage) how much the local cache holds and its quota.
 * Only meaningful for a daemon started with a quota: without one, casd answers with the
 * filesystem's figures (sizeBytes: everything used on the disk, quotaBytes: the disk's size
 * less the reserved space), which say nothing about the cache; use objectStoreUsage then.
 * Throws a CasError (from the gRPC failure) when casd cannot answer.
 */
export async function getUsage(connection: Connection, timeoutMs = 10_000): Promise<CacheUsage> {
  const localCas = connection.localCas;
  try {
    const response = await unary(localCas.getLocalDiskUsage.bind(localCas), {}, { timeoutMs });
    return { usedBytes: response.sizeBytes, quotaBytes: response.quotaBytes };
  } catch (err) {
    throw grpcToCasError(err, 'asking buildbox-casd for its disk usage');
  }
}

/**
 * The usage of a cache that has no quota, read from disk without casd: the bytes of the blobs
 * in `<cacheDir>/cas/objects` (what casd counts against a quota), quotaBytes 0. Names that
 * are not objects (temporary files) are not counted; a missing store is empty.
 */
export async function objectStoreUsage(cacheDir: string): Promise<CacheUsage> {
  const objectsDir = join(cacheDir, 'cas', 'objects');
  const list = (dir: string): Promise<string[]> => readdir(dir).catch(() => []);
  let usedBytes = 0;
  const prefixes = (await list(objectsDir)).filter((name) => /^[0-9a-f]{2}$/.test(name));
  await forEachLimit(prefixes, USAGE_SCAN_DIR_CONCURRENCY, async (prefix) => {
    const names = (await list(join(objectsDir, prefix))).filter((name) => /^[0-9a-f]{62}$/.test(name));
    await forEachLimit(names, USAGE_SCAN_FILE_CONCURRENCY, async (name) => {
      const info = await lstat(join(objectsDir, prefix, name)).catch(() => undefined);
      if (info?.isFile()) usedBytes += info.size;
    });
  });
  return { usedBytes, quotaBytes: 0 };
}

/**
 * Usage for people: `unknown` (no answer yet), `<used>` (no quota), or
 * `<used> / <quota> (<pct>%)`, sizes to one decimal place, the percentage rounded down.
 */
export function formatUsage(usage: CacheUsage | undefined): string {
  if (!usage) return 'unknown';
  return formatUsedOfQuota(usage.usedBytes, usage.quotaBytes);
}

export interface UsageMonitorOptions {
  /** Time between polls (default 5 s). */
  intervalMs?: number;
  logger?: Logger;
}

/**
 * Polls casd's disk usage in the background and keeps the latest answer. The timer never
 * keeps the process alive, and polls never overlap (a slow answer delays the next poll).
 */
export class UsageMonitor {
  private readonly connection: Connection;
  private readonly intervalMs: number;
  private readonly logger: Logger;
  private timer?: NodeJS.Timeout;
  private running = false;
  private inFlight?: Promise<void>;
  private latestUsage?: CacheUsage;

  constructor(connection: Connection, options: UsageMonitorOptions = {}) {
    this.connection = connection;
    this.intervalMs = options.intervalMs ?? 5_000;
    this.logger = options.logger ?? silentLogger;
  }

  /** The most recent answer; undefined until the first one arrives. */
  get latest(): CacheUsage | undefined {
    return this.latestUsage;
  }

  /** Starts polling now and then every interval; calling it again does nothing. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.kick(false);
  }

  /** Stops polling and waits for a poll in flight to settle. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** Polls now (or joins the poll in flight) and returns the latest value. */
  async refresh(): Promise<CacheUsage | undefined> {
    this.kick(true);
    await this.inFlight;
    return this.latestUsage;
  }

  // One poll at a time: a poll in flight is joined, never doubled; the next one is scheduled
  // only when it settles.
  private kick(now: boolean): void {
    if (this.inFlight || (this.timer && !now)) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight = getUsage(this.connection)
      .then(
        (usage) => {
          this.latestUsage = usage;
        },
        (err: unknown) => {
          this.logger.debug(`cache usage unknown: ${(err as Error).message}`);
        },
      )
      .finally(() => {
        this.inFlight = undefined;
        if (this.running && !this.timer) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.kick(false);
          }, this.intervalMs);
          // Never hold the event loop (or process exit) for a statistic.
          this.timer.unref();
        }
      });
  }
}
