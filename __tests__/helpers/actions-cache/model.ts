/** Every request the emulator serves, by the name used for counters and fault targeting. */
export type Operation =
  | 'CreateCacheEntry'
  | 'FinalizeCacheEntryUpload'
  | 'GetCacheEntryDownloadURL'
  | 'v1.getCacheEntry'
  | 'v1.listCaches'
  | 'v1.reserveCache'
  | 'v1.uploadChunk'
  | 'v1.commitCache'
  | 'download';

/** One cache entry as the service sees it. */
export interface CacheEntry {
  id: number;
  key: string;
  version: string;
  /** Creation order; "newest" means the highest. */
  seq: number;
  createdAt: Date;
  /** Size of the archive once finalized (0 before). */
  sizeBytes: number;
  finalized: boolean;
  /** Name of the blob in Azurite's container. */
  blobName: string;
  protocol: 'v1' | 'v2';
}

export interface KeyStats {
  uploads: number;
  downloads: number;
  bytesUploaded: number;
  bytesDownloaded: number;
}

/** Counters the tests assert on; `reset()` zeroes them between phases of a test. */
export class EmulatorStats {
  requests: Partial<Record<Operation, number>> = {};
  /** Entries finalized (v2) or committed (v1). */
  entriesCreated = 0;
  /** Archive bytes of finalized entries. */
  bytesUploaded = 0;
  /** Archive bytes served through the download URLs. */
  bytesDownloaded = 0;
  perKey = new Map<string, KeyStats>();

  count(operation: Operation): void {
    this.requests[operation] = (this.requests[operation] ?? 0) + 1;
  }

  forKey(key: string): KeyStats {
    let stats = this.perKey.get(key);
    if (!stats) {
      stats = { uploads: 0, downloads: 0, bytesUploaded: 0, bytesDownloaded: 0 };
      this.perKey.set(key, stats);
    }
    return stats;
  }

  recordUpload(key: string, bytes: number): void {
    this.entriesCreated += 1;
    this.bytesUploaded += bytes;
    const stats = this.forKey(key);
    stats.uploads += 1;
    stats.bytesUploaded += bytes;
  }

  recordDownload(key: string, bytes: number): void {
    this.bytesDownloaded += bytes;
    const stats = this.forKey(key);
    stats.downloads += 1;
    stats.bytesDownloaded += bytes;
  }

  reset(): void {
    this.requests = {};
    this.entriesCreated = 0;
    this.bytesUploaded = 0;
    this.bytesDownloaded = 0;
    this.perKey.clear();
  }
}

/** What a fault does to the request it hits. */
export type FaultAction =
  | { kind: 'status'; status: number }
  | { kind: 'reset' }
  | { kind: 'conflict' }
  | { kind: 'write-denied' }
  | { kind: 'intercept'; hook: () => void | Promise<void> }
  | { kind: 'hold'; hook: () => void | Promise<void> };

/**
 * What the service answers a read-only token (untrusted triggers since mid-2026): the entry
 * creation fails with `ok: false` and a message with this stable prefix, which
 * `@actions/cache` (>= 6.2) turns into a CacheWriteDeniedError.
 */
export const WRITE_DENIED_MESSAGE =
  'cache write denied: the cache token for this run is read-only (untrusted trigger)';

interface PendingFault {
  action: FaultAction;
  operation?: Operation;
  remaining: number;
  /** Matching requests to let through before the fault starts. */
  skip: number;
}

/**
 * Fault injection: each call queues a fault for the next `count` requests of `operation`
 * (any operation when omitted). Faults are consumed in the order they were queued.
 */
export class Faults {
  private pending: PendingFault[] = [];

  /**
   * The next `count` matching requests get HTTP `status` (e.g. 429, 500), after letting
   * `skip` matching requests through.
   */
  failNext(count: number, status: number, operation?: Operation, skip = 0): void {
    this.pending.push({ action: { kind: 'status', status }, operation, remaining: count, skip });
  }

  /** The next `count` matching requests have their connection destroyed (ECONNRESET). */
  resetNext(count: number, operation?: Operation, skip = 0): void {
    this.pending.push({ action: { kind: 'reset' }, operation, remaining: count, skip });
  }

  /**
   * The next `count` matching requests first run `hook` (a test kills the client there: the
   * step dies with this request in flight), then lose their connection, unanswered.
   */
  interceptNext(count: number, operation: Operation, hook: () => void | Promise<void>, skip = 0): void {
    this.pending.push({ action: { kind: 'intercept', hook }, operation, remaining: count, skip });
  }

  /**
   * The next `count` matching requests are answered as usual once `hook` has finished (a test
   * looks at what the client does while it waits for this answer).
   */
  holdNext(count: number, operation: Operation, hook: () => void | Promise<void>, skip = 0): void {
    this.pending.push({ action: { kind: 'hold', hook }, operation, remaining: count, skip });
  }

  /** The next `count` entry creations (v2 create, v1 reserve) answer "already exists". */
  conflictNext(count = 1): void {
    this.pending.push({
      action: { kind: 'conflict' },
      operation: 'CreateCacheEntry',
      remaining: count,
      skip: 0,
    });
    this.pending.push({
      action: { kind: 'conflict' },
      operation: 'v1.reserveCache',
      remaining: count,
      skip: 0,
    });
  }

  /** The next `count` entry creations are refused as for a read-only token. */
  denyWritesNext(count: number): void {
    this.pending.push({
      action: { kind: 'write-denied' },
      operation: 'CreateCacheEntry',
      remaining: count,
      skip: 0,
    });
  }

  clear(): void {
    this.pending = [];
  }

  /** Takes the fault, if any, that applies to this request. */
  take(operation: Operation): FaultAction | undefined {
    const fault = this.pending.find(
      (f) => f.remaining > 0 && (f.operation === undefined || f.operation === operation),
    );
    if (!fault) return undefined;
    if (fault.skip > 0) {
      fault.skip -= 1;
      return undefined;
    }
    fault.remaining -= 1;
    // A conflict queued for both protocols is used up by whichever one sees it first.
    if (fault.action.kind === 'conflict')
      for (const twin of this.pending)
        if (twin !== fault && twin.action.kind === 'conflict' && twin.remaining > 0) twin.remaining -= 1;
    this.pending = this.pending.filter((f) => f.remaining > 0);
    return fault.action;
  }
}

/** The entries, with the lookup rules of the real service. */
export class EntryStore {
  private entries: CacheEntry[] = [];
  private nextId = 1;

  all(): CacheEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  /** An entry with this key and version exists (finalized or still uploading). */
  exists(key: string, version: string): boolean {
    return this.entries.some((e) => e.key === key && e.version === version);
  }

  create(key: string, version: string, protocol: 'v1' | 'v2'): CacheEntry {
    const id = this.nextId++;
    const entry: CacheEntry = {
      id,
      key,
      version,
      seq: id,
      createdAt: new Date(),
      sizeBytes: 0,
      finalized: false,
      blobName: `entry-${id}-${Math.random().toString(36).slice(2)}`,
      protocol,
    };
    this.entries.push(entry);
    return entry;
  }

  byId(id: number): CacheEntry | undefined {
    return this.entries.find((e) => e.id === id);
  }

  pending(key: string, version: string): CacheEntry | undefined {
    return this.entries.find((e) => e.key === key && e.version === version && !e.finalized);
  }

  /**
   * The service's matching: the primary key must match exactly; each restore key, in order,
   * matches by prefix and the newest entry wins. The version must always match.
   */
  match(key: string, restoreKeys: string[], version: string): CacheEntry | undefined {
    const ready = this.entries.filter((e) => e.finalized && e.version === version);
    const newest = (candidates: CacheEntry[]): CacheEntry | undefined =>
      candidates.sort((a, b) => b.seq - a.seq)[0];
    const exact = newest(ready.filter((e) => e.key === key));
    if (exact) return exact;
    for (const prefix of restoreKeys) {
      const found = newest(ready.filter((e) => e.key.startsWith(prefix)));
      if (found) return found;
    }
    return undefined;
  }

  /** Removes entries by key (as GitHub's eviction would); returns how many went. */
  evict(key: string): number {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.key !== key);
    return before - this.entries.length;
  }
}
