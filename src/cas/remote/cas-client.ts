import { status } from '@grpc/grpc-js';
import { CasError, isCasError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import {
  Compressor_Value,
  type Directory,
  type ServerCapabilities,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type CompressionSupport,
  NO_COMPRESSION,
  compressionSupport,
  zstdCompress,
  zstdDecompressBlob,
} from './compression.js';
import type { Connection } from '../../grpc/connection.js';
import { preEncodedBatchUpdate } from '../../grpc/bulk-clients.js';
import { grpcToCasError, isGrpcError, unary } from '../../grpc/call.js';
import { forEachLimit } from '../../util/concurrency.js';
import {
  CAS_CLIENT_CONCURRENCY,
  DEFAULT_MAX_BATCH_BYTES,
  FALLBACK_MAX_BATCH_BYTES,
  FIND_MISSING_GROUP,
  TRANSFER_CONCURRENCY_CAP,
  UPLOAD_BATCH_BYTES,
  ZSTD_MIN_BLOB_BYTES,
} from '../options.js';
import { RECEIVED_HINT, corruptObject, holding, isObjectPath } from '../store/corrupt.js';
import { type Digest, EMPTY_DIGEST, digestOfBuffer, formatDigest } from '../digest.js';
import {
  byteStreamRead,
  byteStreamReadToFile,
  byteStreamWrite,
  type UploadSource,
} from './remote-bytestream.js';
import { MessageBuffers, encodeBatchUpdate } from './batch-encoding.js';
import { type BatchPlan, planBatches } from './remote-batches.js';
import { type TreeDirectory, fetchTreeDirectories } from './remote-tree.js';

export type { TreeDirectory };

export { DEFAULT_MAX_BATCH_BYTES, FALLBACK_MAX_BATCH_BYTES, FIND_MISSING_GROUP } from '../options.js';

export interface CasClientOptions {
  logger?: Logger;
  /** Calls in flight at once (batches, ByteStream transfers, FindMissingBlobs groups). */
  concurrency?: number;
  /** Deadline of each call, in milliseconds. */
  timeoutMs?: number;
  /** Use this batch limit instead of asking the server (for tests and known servers). */
  maxBatchBytes?: number;
  /**
   * Send and fetch zstd where the server advertises it (`supported_compressors`,
   * `supported_batch_update_compressors`) and this Node has zstd (default true).
   */
  compression?: boolean;
}

/** A blob and its digest, for uploads. */
export interface Blob {
  digest: Digest;
  data: Buffer;
}

/** What a read returned: blobs by hash, and the digests the server does not hold. */
export interface ReadResult {
  blobs: Map<string, Buffer>;
  missing: Digest[];
}

/** A blob to upload: its digest and where its bytes come from (memory or a file). */
export type Upload = { digest: Digest } & UploadSource;

/**
 * A REAPI CAS client for one server and instance name: casd, or any strict third-party cache.
 * Sizes batches from the server's capabilities, sends blobs too big for a batch through
 * ByteStream, and verifies every blob it receives against its digest.
 */
export class CasClient {
  readonly connection: Connection;
  readonly instanceName: string;
  private readonly logger: Logger;
  private readonly concurrency: number;
  private readonly timeoutMs?: number;
  private capabilities?: Promise<ServerCapabilities>;
  private batchLimit?: number;
  // Batches of a push are planned within UPLOAD_BATCH_BYTES, headroom for the framing included.
  private readonly messageBuffers = new MessageBuffers(UPLOAD_BATCH_BYTES, TRANSFER_CONCURRENCY_CAP);
  private readonly compressionWanted: boolean;

  constructor(connection: Connection, instanceName = '', options: CasClientOptions = {}) {
    this.connection = connection;
    this.instanceName = instanceName;
    this.logger = options.logger ?? silentLogger;
    this.concurrency = options.concurrency ?? CAS_CLIENT_CONCURRENCY;
    this.timeoutMs = options.timeoutMs;
    this.batchLimit = options.maxBatchBytes;
    this.compressionWanted = options.compression ?? true;
  }

  /**
   * The server's capabilities, asked once and cached. A server without the Capabilities
   * service is treated as advertising nothing (default limits).
   */
  getCapabilities(): Promise<ServerCapabilities> {
    this.capabilities ??= unary(
      this.connection.capabilities.getCapabilities.bind(this.connection.capabilities),
      { instanceName: this.instanceName },
      { timeoutMs: this.timeoutMs },
    ).catch((err: unknown) => {
      if (isGrpcError(err, status.UNIMPLEMENTED)) {
        return {
          cacheCapabilities: undefined,
          executionCapabilities: undefined,
          deprecatedApiVersion: undefined,
          lowApiVersion: undefined,
          highApiVersion: undefined,
        };
      }
      this.capabilities = undefined;
      throw grpcToCasError(err, `GetCapabilities on ${this.connection.endpoint.text}`);
    });
    return this.capabilities;
  }

  /** The most bytes one batch call may carry: the advertised limit, else 4 MiB. */
  async maxBatchBytes(): Promise<number> {
    if (this.batchLimit === undefined) {
      const caps = await this.getCapabilities();
      const advertised = caps.cacheCapabilities?.maxBatchTotalSizeBytes ?? 0;
      this.batchLimit ??= advertised > 0 ? advertised : DEFAULT_MAX_BATCH_BYTES;
    }
    return this.batchLimit;
  }

  /** How the server takes and gives zstd (none when it advertises none, or compression is off). */
  async compression(): Promise<CompressionSupport> {
    if (!this.compressionWanted) return NO_COMPRESSION;
    return compressionSupport(await this.getCapabilities());
  }

  /**
   * Asks which of `digests` the server lacks, in groups of at most 512 with several groups
   * in flight. Digests are de-duplicated by hash and the empty blob is never asked for.
   * Returns the missing digests (in no particular order).
   */
  async findMissingBlobs(digests: Iterable<Digest> | AsyncIterable<Digest>): Promise<Digest[]> {
    const missing: Digest[] = [];
    const cas = this.connection.cas;
    await forEachLimit(uniqueGroups(digests, FIND_MISSING_GROUP), this.concurrency, async (group) => {
      try {
        const response = await unary(
          cas.findMissingBlobs.bind(cas),
          { instanceName: this.instanceName, blobDigests: group, digestFunction: 0 },
          { timeoutMs: this.timeoutMs },
        );
        for (const digest of response.missingBlobDigests) missing.push(digest);
      } catch (err) {
        throw grpcToCasError(err, `FindMissingBlobs (${group.length} digests) on ${this.where()}`);
      }
    });
    return missing;
  }

  /**
   * Reads blobs: BatchReadBlobs for those that fit a batch, ByteStream for bigger ones (both
   * as zstd when the server offers it). Every blob is checked against its digest (CasError
   * 'corrupt-data' naming it otherwise); blobs the server does not hold are listed in `missing`.
   */
  async readBlobs(digests: Iterable<Digest>): Promise<ReadResult> {
    const result: ReadResult = { blobs: new Map(), missing: [] };
    const wanted: Digest[] = [];
    for (const digest of uniqueDigests(digests)) {
      if (digest.hash === EMPTY_DIGEST.hash) result.blobs.set(digest.hash, Buffer.alloc(0));
      else wanted.push(digest);
    }
    const { zstd } = await this.compression();
    await this.transfer(wanted, {
      batch: (batch) => this.batchRead(batch, result, zstd),
      single: async (digest) => {
        try {
          result.blobs.set(
            digest.hash,
            await byteStreamRead(this.byteStream(), this.instanceName, digest, {
              timeoutMs: this.timeoutMs,
              zstd,
            }),
          );
        } catch (err) {
          if (isCasError(err, 'blob-not-found')) result.missing.push(digest);
          else throw err;
        }
      },
    });
    return result;
  }

  /** Reads one blob of any size into a file, streaming it; throws 'blob-not-found' if absent. */
  async readBlobToFile(digest: Digest, path: string): Promise<void> {
    const { zstd } = await this.compression();
    await byteStreamReadToFile(this.byteStream(), this.instanceName, digest, path, {
      timeoutMs: this.timeoutMs,
      zstd,
    });
  }

  /**
   * Uploads blobs held in memory, in files or loaded on demand: BatchUpdateBlobs for those that
   * fit a batch (packed by total size), ByteStream Write for bigger ones (files are streamed,
   * never read whole); as zstd where the server takes it. `onWritten` hears of each call's
   * blobs once the server has them. Throws a CasError naming the first blob the server refused.
   */
  async writeBlobs(uploads: Iterable<Upload | Blob>, onWritten?: (digests: Digest[]) => void): Promise<void> {
    const bySize: Upload[] = [];
    const seen = new Set<string>();
    for (const upload of uploads) {
      if (upload.digest.hash === EMPTY_DIGEST.hash || seen.has(upload.digest.hash)) continue;
      seen.add(upload.digest.hash);
      bySize.push(upload);
    }
    const sources = new Map(bySize.map((u) => [u.digest.hash, u]));
    const compression = await this.compression();
    await this.transfer(
      bySize.map((u) => u.digest),
      {
        batchBytes: Math.min(await this.maxBatchBytes(), UPLOAD_BATCH_BYTES),
        batch: async (batch) => {
          await this.batchUpdate(batch, sources, compression.zstdBatchUpdate);
          onWritten?.(batch);
        },
        single: async (digest) => {
          await byteStreamWrite(
            this.byteStream(),
            this.instanceName,
            digest,
            sources.get(digest.hash) as Upload,
            {
              timeoutMs: this.timeoutMs,
              zstd: compression.zstd,
            },
          );
          onWritten?.([digest]);
        },
      },
    );
  }

  /** Uploads one file under `digest`, streamed from disk. */
  async writeFile(digest: Digest, path: string): Promise<void> {
    await this.writeBlobs([{ digest, path }]);
  }

  /**
   * Every Directory of the tree under `root` (root first), each verified against the digest
   * that references it. Uses GetTree (paged) and falls back to reading Directory blobs level
   * by level when the server lacks GetTree. Throws 'blob-not-found' naming a missing one.
   */
  async getTree(root: Digest): Promise<TreeDirectory[]> {
    return fetchTreeDirectories(this, root, this.logger);
  }

  /** `instance "x" on endpoint`, for messages. */
  where(): string {
    return `${this.instanceName ? `instance "${this.instanceName}" on ` : ''}${this.connection.endpoint.text}`;
  }

  private byteStream() {
    return this.connection.byteStream;
  }

  // Splits digests into size-packed batches and single (ByteStream) transfers and runs them
  // with bounded concurrency. A batch the server rejects for its size is retried once the
  // limit has dropped to 1 MiB (re-planned, so big blobs then move to ByteStream).
  private async transfer(
    digests: Digest[],
    run: {
      /** Largest batch, when below the server's limit. */
      batchBytes?: number;
      batch: (batch: Digest[]) => Promise<void>;
      single: (digest: Digest) => Promise<void>;
    },
  ): Promise<void> {
    if (digests.length === 0) return;
    const limit = await this.maxBatchBytes();
    const planned = Math.min(limit, run.batchBytes ?? limit);
    const plan: BatchPlan = planBatches(digests, planned);
    const jobs: Array<{ batch?: Digest[]; single?: Digest }> = [
      ...plan.singles.map((single) => ({ single })),
      ...plan.batches.map((batch) => ({ batch })),
    ];
    await forEachLimit(jobs, Math.min(this.concurrency, TRANSFER_CONCURRENCY_CAP), async (job) => {
      if (job.single) return run.single(job.single);
      const batch = job.batch as Digest[];
      try {
        await run.batch(batch);
      } catch (err) {
        const rejected =
          isGrpcError(err, status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED) ||
          (err instanceof CasError &&
            (err.grpcCode === status.INVALID_ARGUMENT || err.grpcCode === status.RESOURCE_EXHAUSTED));
        // By the limit this batch was planned with: batches in flight together are all refused.
        if (!rejected || planned <= FALLBACK_MAX_BATCH_BYTES) throw err;
        this.batchLimit = FALLBACK_MAX_BATCH_BYTES;
        this.logger.info(
          `${this.where()} rejected a batch of ${batch.length} blobs (${describeGrpc(err)}); ` +
            `retrying with batches of at most ${FALLBACK_MAX_BATCH_BYTES} bytes`,
        );
        await this.transfer(batch, run);
      }
    });
  }

  private async batchRead(batch: Digest[], result: ReadResult, zstd: boolean): Promise<void> {
    const cas = this.connection.cas;
    let response;
    try {
      response = await unary(
        cas.batchReadBlobs.bind(cas),
        {
          instanceName: this.instanceName,
          digests: batch,
          acceptableCompressors: zstd ? [Compressor_Value.ZSTD] : [],
          digestFunction: 0,
        },
        { timeoutMs: this.timeoutMs },
      );
    } catch (err) {
      throw grpcToCasError(err, `BatchReadBlobs (${batch.length} blobs) on ${this.where()}`);
    }
    const wanted = new Map(batch.map((d) => [d.hash, d]));
    for (const entry of response.responses) {
      const digest = entry.digest && wanted.get(entry.digest.hash);
      if (!digest) continue;
      const code = entry.status?.code ?? 0;
      if (code === status.NOT_FOUND) {
        result.missing.push(digest);
      } else if (code !== 0) {
        throw new CasError(
          'remote-error',
          `reading blob ${formatDigest(digest)} from ${this.where()} failed: ` +
            `${status[code] ?? code}: ${entry.status?.message ?? ''}`,
          { grpcCode: code },
        );
      } else {
        const data = await received(digest, entry.data, entry.compressor);
        verify(digest, data);
        result.blobs.set(digest.hash, data);
      }
      wanted.delete(digest.hash);
    }
    // Why: a server that silently leaves a digest out of its answer does not hold it.
    for (const digest of wanted.values()) result.missing.push(digest);
  }

  private async batchUpdate(batch: Digest[], sources: Map<string, Upload>, zstd: boolean): Promise<void> {
    // Each blob's bytes in hand (a zstd frame must exist before its length is known), or,
    // uncompressed from a source that can fill, read later straight into the request.
    const parts = await Promise.all(
      batch.map(async (digest) => {
        const source = sources.get(digest.hash) as Upload;
        if (!zstd && 'fill' in source && source.fill) {
          const fill = source.fill;
          return { digest, length: digest.sizeBytes, compressor: Compressor_Value.IDENTITY, fill };
        }
        const data = await uploadData(source, digest);
        if (zstd && data.byteLength >= ZSTD_MIN_BLOB_BYTES) {
          // Planned by raw size, so a frame is only sent when it is smaller.
          const packed = await zstdCompress(data);
          if (packed.byteLength < data.byteLength)
            return { digest, length: packed.byteLength, compressor: Compressor_Value.ZSTD, data: packed };
        }
        return { digest, length: data.byteLength, compressor: Compressor_Value.IDENTITY, data };
      }),
    );
    let buffer: Buffer | undefined;
    const encoded = encodeBatchUpdate(
      this.instanceName,
      parts,
      (bytes) => (buffer = this.messageBuffers.take(bytes)),
    );
    await Promise.all(
      parts.map(async (part, i) => {
        const region = encoded.regions[i];
        if (part.data) {
          region.set(part.data);
        } else if (part.fill) {
          await part.fill(region);
          verifiedLoad(region, part.digest);
        }
      }),
    );
    await this.sendBatchUpdate(batch, encoded.message);
    // Only after a call that succeeded: a failed one may end before grpc-js has copied it.
    if (buffer) this.messageBuffers.give(buffer);
  }

  private async sendBatchUpdate(batch: Digest[], message: Buffer): Promise<void> {
    const cas = this.connection.cas;
    let response;
    try {
      response = await unary(cas.batchUpdateBlobs.bind(cas), preEncodedBatchUpdate(message), {
        timeoutMs: this.timeoutMs,
      });
    } catch (err) {
      throw grpcToCasError(err, `BatchUpdateBlobs (${batch.length} blobs) on ${this.where()}`);
    }
    for (const entry of response.responses) {
      const code = entry.status?.code ?? 0;
      if (code !== 0) {
        const reason = code === status.RESOURCE_EXHAUSTED ? 'cache-too-full' : 'remote-error';
        throw new CasError(
          reason,
          `uploading blob ${entry.digest ? formatDigest(entry.digest) : '?'} to ${this.where()} failed: ` +
            `${status[code] ?? code}: ${entry.status?.message ?? ''}`,
          { grpcCode: code },
        );
      }
    }
  }
}

function describeGrpc(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Throws CasError('corrupt-data') naming `digest` unless `data` hashes to it. */
export function verify(digest: Digest, data: Uint8Array): void {
  const actual = digestOfBuffer(data);
  if (actual.hash !== digest.hash || actual.sizeBytes !== digest.sizeBytes) {
    throw new CasError(
      'corrupt-data',
      `blob ${formatDigest(digest)} received with wrong content: got ${actual.sizeBytes} bytes hashing to ${actual.hash}; ${RECEIVED_HINT}`,
    );
  }
}

// The bytes of an upload, checked against its digest when read from a file or loaded.
async function uploadData(source: Upload, digest: Digest): Promise<Buffer> {
  // A view, not a copy: the request is encoded (copied) once when it is sent.
  if ('data' in source)
    return Buffer.from(source.data.buffer, source.data.byteOffset, source.data.byteLength);
  if ('load' in source) return verifiedLoad(await source.load(), digest);
  return readFileExact(source.path, digest);
}

function verifiedLoad(data: Buffer, digest: Digest): Buffer {
  const actual = digestOfBuffer(data);
  if (actual.hash !== digest.hash || actual.sizeBytes !== digest.sizeBytes) {
    throw new CasError(
      'corrupt-data',
      `cannot upload blob ${formatDigest(digest)}: the local copy ${holding(actual)}; it is damaged`,
    );
  }
  return data;
}

// A blob's data as the server sent it, decompressed when it came as zstd.
async function received(digest: Digest, data: Buffer, compressor: Compressor_Value): Promise<Buffer> {
  if (compressor === Compressor_Value.ZSTD) return zstdDecompressBlob(digest, data);
  if (compressor !== Compressor_Value.IDENTITY) {
    throw new CasError(
      'remote-error',
      `blob ${formatDigest(digest)} came with compressor ${compressor}, which was not asked for`,
    );
  }
  return data;
}

// Reads a file to upload under `digest`, refusing one that does not match: an object of the
// local cache is then corrupt (named as such); any other file changed since it was hashed.
async function readFileExact(path: string, digest: Digest): Promise<Buffer> {
  const { readFile } = await import('node:fs/promises');
  const data = await readFile(path);
  const actual = digestOfBuffer(data);
  if (actual.hash !== digest.hash || actual.sizeBytes !== digest.sizeBytes) {
    if (isObjectPath(path)) throw corruptObject(digest, path, holding(actual));
    throw new CasError(
      'corrupt-data',
      `file ${path} does not match digest ${formatDigest(digest)} (it hashes to ${formatDigest(actual)}); ` +
        'was it changed while being uploaded?',
    );
  }
  return data;
}

function* uniqueDigests(digests: Iterable<Digest>): Generator<Digest> {
  const seen = new Set<string>();
  for (const digest of digests) {
    if (seen.has(digest.hash)) continue;
    seen.add(digest.hash);
    yield digest;
  }
}

// De-duplicates by hash, drops the empty blob and groups, pulling lazily from the source.
async function* uniqueGroups(
  digests: Iterable<Digest> | AsyncIterable<Digest>,
  size: number,
): AsyncGenerator<Digest[]> {
  const seen = new Set<string>();
  let group: Digest[] = [];
  const take = (digest: Digest): Digest[] | undefined => {
    if (digest.hash === EMPTY_DIGEST.hash || seen.has(digest.hash)) return undefined;
    seen.add(digest.hash);
    group.push(digest);
    if (group.length < size) return undefined;
    const full = group;
    group = [];
    return full;
  };
  if (Symbol.asyncIterator in digests) {
    for await (const digest of digests) {
      const full = take(digest);
      if (full) yield full;
    }
  } else {
    for (const digest of digests) {
      const full = take(digest);
      if (full) yield full;
    }
  }
  if (group.length > 0) yield group;
}

export type { Directory };
