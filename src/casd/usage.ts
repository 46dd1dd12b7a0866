import { type Connection } from '../grpc/connection.js';
import { grpcToCasError, unary } from '../grpc/call.js';
import { type Logger, silentLogger } from '../logger.js';
import { formatBytes } from '../util/size.js';

/** The local cache's size as casd sees it. */
export interface CacheUsage {
  usedBytes: number;
  /** 0 when casd runs without a quota. */
  quotaBytes: number;
}

/**
 * Asks casd (LocalCAS GetLocalDiskUsage) how much the local cache holds and its quota.
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
 * Usage for people: `unknown` (no answer yet), `<used>` (no quota), or
 * `<used> / <quota> (<pct>%)`, sizes to one decimal place, the percentage rounded down.
 */
export function formatUsage(usage: CacheUsage | undefined): string {
  if (!usage) return 'unknown';
  if (usage.quotaBytes <= 0) return formatBytes(usage.usedBytes);
  const percent = Math.floor((usage.usedBytes * 100) / usage.quotaBytes);
  return `${formatBytes(usage.usedBytes)} / ${formatBytes(usage.quotaBytes)} (${percent}%)`;
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
