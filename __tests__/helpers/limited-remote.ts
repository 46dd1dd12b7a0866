import {
  type Metadata,
  type sendUnaryData,
  Server,
  ServerCredentials,
  type ServerErrorResponse,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { zstdCompressSync, zstdDecompressSync } from './zstd.js';
import {
  BatchUpdateBlobsRequest,
  Compressor_Value,
  CapabilitiesService,
  type CapabilitiesServer,
  ContentAddressableStorageService,
  type ContentAddressableStorageServer,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  ByteStreamService,
  type ByteStreamServer,
  type ReadResponse,
  type WriteRequest,
} from '../../src/gen/google/bytestream/bytestream.js';
import { Connection } from '../../src/grpc/connection.js';
import { unary } from '../../src/grpc/call.js';

/** What the stand-in server saw, for assertions. */
export interface LimitedRemoteCounters {
  capabilities: number;
  /** Calls refused for a missing or wrong token. */
  unauthenticated: number;
  /** Transfers refused because of the client's user-agent. */
  refusedTransfers: number;
  findMissingBlobs: number;
  batchUpdateCalls: number;
  batchReadCalls: number;
  /** Batches refused for exceeding the enforced limit. */
  rejectedBatches: number;
  /** Largest batch accepted (BatchUpdate: encoded request; BatchRead: sum of blob sizes). */
  largestBatchBytes: number;
  getTreeCalls: number;
  byteStreamReads: number;
  byteStreamWrites: number;
  /** Blob bytes received in BatchUpdateBlobs and ByteStream Write. */
  bytesReceived: number;
  /** Blob bytes sent in BatchReadBlobs and ByteStream Read. */
  bytesSent: number;
  /** Blobs that came zstd-compressed (batch entries and ByteStream writes). */
  zstdBlobsReceived: number;
  /** Blobs sent zstd-compressed (batch entries and ByteStream reads). */
  zstdBlobsSent: number;
}

export interface LimitedRemoteOptions {
  /** The limit advertised in Capabilities (default 1 MiB; 0 = advertise none). */
  advertisedBatchBytes?: number;
  /** Batches above this are rejected with INVALID_ARGUMENT (default 1 MiB). */
  enforcedBatchBytes?: number;
  /** Blobs (by hash) served with one byte flipped, to test verification. */
  corrupt?: Set<string>;
  /** Serve TLS with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer };
  /** Require `authorization: Bearer <token>` on every call (UNAUTHENTICATED otherwise). */
  token?: string;
  /**
   * Refuse blob transfers (batch and ByteStream reads and writes) from clients whose
   * user-agent matches, with FAILED_PRECONDITION: e.g. /grpc-c\+\+/ fails casd's own transfers
   * so that a client's fallbacks run.
   */
  refuseUserAgent?: RegExp;
  /**
   * Advertise zstd (supported_compressors and supported_batch_update_compressors) and speak
   * it: compressed batch entries, `compressed-blobs/zstd/` ByteStream reads and writes (the
   * backend casd gets and gives plain blobs). Without it, compressed requests are refused.
   */
  zstd?: boolean;
  /**
   * Called as each upload arrives (BatchUpdateBlobs, ByteStream Write), with how many have so
   * far, before it is served: a test kills the uploading step there.
   */
  onUpload?: (uploads: number) => void;
}

export interface LimitedRemote {
  /** `grpc://127.0.0.1:PORT`, or `grpcs://` with TLS. */
  url: string;
  counters: LimitedRemoteCounters;
  resetCounters(): void;
  stop(): Promise<void>;
}

const MiB = 1024 * 1024;
const ZSTD_PATH = 'compressed-blobs/zstd/';

// The resource name of the same blob uncompressed, as the backend casd takes it.
function plainName(resourceName: string): string {
  return resourceName.replace(ZSTD_PATH, 'blobs/');
}

function badRequest(details: string): ServerErrorResponse {
  return { name: 'InvalidArgument', message: details, code: status.INVALID_ARGUMENT, details };
}

function zeroCounters(): LimitedRemoteCounters {
  return {
    capabilities: 0,
    unauthenticated: 0,
    refusedTransfers: 0,
    findMissingBlobs: 0,
    batchUpdateCalls: 0,
    batchReadCalls: 0,
    rejectedBatches: 0,
    largestBatchBytes: 0,
    getTreeCalls: 0,
    byteStreamReads: 0,
    byteStreamWrites: 0,
    bytesReceived: 0,
    bytesSent: 0,
    zstdBlobsReceived: 0,
    zstdBlobsSent: 0,
  };
}

function flipped(data: Buffer): Buffer {
  const copy = Buffer.from(data);
  if (copy.byteLength > 0) copy[0] ^= 0xff;
  return copy;
}

function forward<T>(callback: sendUnaryData<T>, promise: Promise<T>): void {
  promise.then(
    (response) => callback(null, response),
    (err: ServiceError) => callback(err),
  );
}

/**
 * A strict REAPI server in front of a real casd: it speaks the real wire protocol (a grpc-js
 * server built from the generated service definitions) and forwards to the casd, but
 * advertises and enforces a 1 MiB batch limit, has no GetTree and no Remote Asset (both
 * answer UNIMPLEMENTED), and counts what it sees.
 */
export async function startLimitedRemote(
  backendAddress: string,
  options: LimitedRemoteOptions = {},
): Promise<LimitedRemote> {
  const advertised = options.advertisedBatchBytes ?? MiB;
  const enforced = options.enforcedBatchBytes ?? MiB;
  const corrupt = options.corrupt ?? new Set<string>();
  const backend = new Connection(backendAddress);
  const counters = zeroCounters();
  const tooBig = (bytes: number): ServerErrorResponse => {
    counters.rejectedBatches++;
    return {
      name: 'InvalidArgument',
      message: 'batch too large',
      code: status.INVALID_ARGUMENT,
      details: `batch of ${bytes} bytes exceeds the limit of ${enforced} bytes`,
    };
  };

  // Returns the error to answer with when the call lacks the expected token.
  const denied = (metadata: Metadata): ServerErrorResponse | undefined => {
    if (options.token === undefined || metadata.get('authorization')[0] === `Bearer ${options.token}`) {
      return undefined;
    }
    counters.unauthenticated++;
    return {
      name: 'Unauthenticated',
      message: 'bad token',
      code: status.UNAUTHENTICATED,
      details: 'missing or wrong bearer token',
    };
  };
  // Like `denied`, for blob transfers: also refuses clients matching refuseUserAgent.
  const deniedTransfer = (metadata: Metadata): ServerErrorResponse | undefined => {
    const refusal = denied(metadata);
    if (refusal || !options.refuseUserAgent) return refusal;
    const agent = String(metadata.get('user-agent')[0] ?? '');
    if (!options.refuseUserAgent.test(agent)) return undefined;
    counters.refusedTransfers++;
    return {
      name: 'FailedPrecondition',
      message: 'client refused',
      code: status.FAILED_PRECONDITION,
      details: `transfers from ${agent} are refused by this test server`,
    };
  };

  const capabilities: CapabilitiesServer = {
    getCapabilities(call, callback) {
      const refusal = denied(call.metadata);
      if (refusal) return callback(refusal);
      counters.capabilities++;
      forward(
        callback,
        unary(backend.capabilities.getCapabilities.bind(backend.capabilities), call.request).then((caps) => ({
          ...caps,
          cacheCapabilities: caps.cacheCapabilities && {
            ...caps.cacheCapabilities,
            maxBatchTotalSizeBytes: advertised,
            supportedCompressors: options.zstd ? [Compressor_Value.ZSTD] : [],
            supportedBatchUpdateCompressors: options.zstd ? [Compressor_Value.ZSTD] : [],
          },
        })),
      );
    },
  };

  const cas: ContentAddressableStorageServer = {
    findMissingBlobs(call, callback) {
      const refusal = denied(call.metadata);
      if (refusal) return callback(refusal);
      counters.findMissingBlobs++;
      forward(callback, unary(backend.cas.findMissingBlobs.bind(backend.cas), call.request));
    },
    batchUpdateBlobs(call, callback) {
      const refusal = deniedTransfer(call.metadata);
      if (refusal) return callback(refusal);
      counters.batchUpdateCalls++;
      options.onUpload?.(counters.batchUpdateCalls + counters.byteStreamWrites);
      const bytes = BatchUpdateBlobsRequest.encode(call.request).finish().byteLength;
      if (bytes > enforced) return callback(tooBig(bytes));
      counters.largestBatchBytes = Math.max(counters.largestBatchBytes, bytes);
      for (const request of call.request.requests) {
        counters.bytesReceived += request.data.byteLength;
        if (request.compressor === Compressor_Value.IDENTITY) continue;
        if (!options.zstd || request.compressor !== Compressor_Value.ZSTD) {
          return callback(badRequest(`compressor ${request.compressor} is not supported`));
        }
        counters.zstdBlobsReceived++;
        request.data = zstdDecompressSync(request.data);
        request.compressor = Compressor_Value.IDENTITY;
      }
      forward(callback, unary(backend.cas.batchUpdateBlobs.bind(backend.cas), call.request));
    },
    batchReadBlobs(call, callback) {
      const refusal = deniedTransfer(call.metadata);
      if (refusal) return callback(refusal);
      counters.batchReadCalls++;
      const bytes = call.request.digests.reduce((sum, d) => sum + d.sizeBytes, 0);
      if (bytes > enforced) return callback(tooBig(bytes));
      counters.largestBatchBytes = Math.max(counters.largestBatchBytes, bytes);
      const zstd = options.zstd && call.request.acceptableCompressors.includes(Compressor_Value.ZSTD);
      forward(
        callback,
        unary(backend.cas.batchReadBlobs.bind(backend.cas), {
          ...call.request,
          acceptableCompressors: [],
        }).then((response) => {
          for (const entry of response.responses) {
            if (entry.digest && corrupt.has(entry.digest.hash)) entry.data = flipped(entry.data);
            if (zstd && (entry.status?.code ?? 0) === 0) {
              entry.data = zstdCompressSync(entry.data);
              entry.compressor = Compressor_Value.ZSTD;
              counters.zstdBlobsSent++;
            }
            counters.bytesSent += entry.data.byteLength;
          }
          return response;
        }),
      );
    },
    getTree(call) {
      counters.getTreeCalls++;
      call.emit('error', { code: status.UNIMPLEMENTED, details: 'GetTree is not supported by this server' });
    },
  };

  const byteStream: ByteStreamServer = {
    read(call) {
      const refusal = deniedTransfer(call.metadata);
      if (refusal) return call.emit('error', refusal);
      counters.byteStreamReads++;
      const hash = /blobs\/(?:zstd\/)?([0-9a-f]{64})\//.exec(call.request.resourceName)?.[1] ?? '';
      const zstd = call.request.resourceName.includes(ZSTD_PATH);
      if (zstd && !options.zstd) return call.emit('error', badRequest('compressed-blobs are not supported'));
      let first = true;
      const parts: Buffer[] = [];
      const upstream = backend.byteStream.read({
        ...call.request,
        resourceName: plainName(call.request.resourceName),
      });
      upstream.on('data', (message: ReadResponse) => {
        const data = first && corrupt.has(hash) ? flipped(message.data) : message.data;
        first = false;
        if (zstd) return void parts.push(data);
        counters.bytesSent += data.byteLength;
        call.write({ data });
      });
      upstream.on('end', () => {
        if (zstd) {
          const packed = zstdCompressSync(Buffer.concat(parts));
          counters.zstdBlobsSent++;
          for (let offset = 0; offset < packed.byteLength; offset += MiB) {
            const data = packed.subarray(offset, offset + MiB);
            counters.bytesSent += data.byteLength;
            call.write({ data });
          }
        }
        call.end();
      });
      upstream.on('error', (err: ServiceError) => call.emit('error', err));
    },
    write(call, callback) {
      const refusal = deniedTransfer(call.metadata);
      if (refusal) return callback(refusal);
      counters.byteStreamWrites++;
      options.onUpload?.(counters.batchUpdateCalls + counters.byteStreamWrites);
      let zstd: { name: string; parts: Buffer[]; received: number } | undefined;
      let refused = false;
      const upstream = backend.byteStream.write((err, response) => {
        if (refused) return;
        if (err) callback(err);
        else callback(null, zstd ? { committedSize: zstd.received } : response);
      });
      const refuse = (why: string): void => {
        refused = true;
        upstream.cancel();
        callback(badRequest(why));
      };
      call.on('data', (message: WriteRequest) => {
        counters.bytesReceived += message.data.byteLength;
        if (refused) return;
        if (message.resourceName.includes(ZSTD_PATH)) {
          if (!options.zstd) return refuse('compressed-blobs are not supported');
          zstd = { name: message.resourceName, parts: [], received: 0 };
          counters.zstdBlobsReceived++;
        }
        if (!zstd) return void upstream.write(message);
        // REAPI: after the first message, offsets count the compressed bytes sent so far.
        if (message.writeOffset !== zstd.received)
          return refuse(`write_offset ${message.writeOffset}, expected ${zstd.received}`);
        zstd.parts.push(message.data);
        zstd.received += message.data.byteLength;
        if (!message.finishWrite) return;
        const plain = zstdDecompressSync(Buffer.concat(zstd.parts));
        for (let offset = 0; offset === 0 || offset < plain.byteLength; offset += MiB) {
          const end = Math.min(plain.byteLength, offset + MiB);
          upstream.write({
            resourceName: offset === 0 ? plainName(zstd.name) : '',
            writeOffset: offset,
            finishWrite: end === plain.byteLength,
            data: plain.subarray(offset, end),
          });
          if (end === plain.byteLength) break;
        }
      });
      call.on('end', () => upstream.end());
      call.on('error', () => upstream.cancel());
    },
    queryWriteStatus(call, callback) {
      forward(callback, unary(backend.byteStream.queryWriteStatus.bind(backend.byteStream), call.request));
    },
  };

  const server = new Server({
    'grpc.max_receive_message_length': 64 * MiB,
    'grpc.max_send_message_length': 64 * MiB,
  });
  server.addService(CapabilitiesService, capabilities);
  server.addService(ContentAddressableStorageService, cas);
  server.addService(ByteStreamService, byteStream);
  const credentials = options.tls
    ? ServerCredentials.createSsl(null, [{ cert_chain: options.tls.cert, private_key: options.tls.key }])
    : ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return {
    url: `${options.tls ? 'grpcs' : 'grpc'}://127.0.0.1:${port}`,
    counters,
    resetCounters: () => Object.assign(counters, zeroCounters()),
    async stop() {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      backend.close();
    },
  };
}
