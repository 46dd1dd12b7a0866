import {
  type Metadata,
  type sendUnaryData,
  Server,
  ServerCredentials,
  type ServerErrorResponse,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import {
  BatchUpdateBlobsRequest,
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
}

export interface LimitedRemote {
  /** `grpc://127.0.0.1:PORT`, or `grpcs://` with TLS. */
  url: string;
  counters: LimitedRemoteCounters;
  resetCounters(): void;
  stop(): Promise<void>;
}

const MiB = 1024 * 1024;

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
      const bytes = BatchUpdateBlobsRequest.encode(call.request).finish().byteLength;
      if (bytes > enforced) return callback(tooBig(bytes));
      counters.largestBatchBytes = Math.max(counters.largestBatchBytes, bytes);
      for (const request of call.request.requests) counters.bytesReceived += request.data.byteLength;
      forward(callback, unary(backend.cas.batchUpdateBlobs.bind(backend.cas), call.request));
    },
    batchReadBlobs(call, callback) {
      const refusal = deniedTransfer(call.metadata);
      if (refusal) return callback(refusal);
      counters.batchReadCalls++;
      const bytes = call.request.digests.reduce((sum, d) => sum + d.sizeBytes, 0);
      if (bytes > enforced) return callback(tooBig(bytes));
      counters.largestBatchBytes = Math.max(counters.largestBatchBytes, bytes);
      forward(
        callback,
        unary(backend.cas.batchReadBlobs.bind(backend.cas), call.request).then((response) => {
          for (const entry of response.responses) {
            counters.bytesSent += entry.data.byteLength;
            if (entry.digest && corrupt.has(entry.digest.hash)) entry.data = flipped(entry.data);
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
      const hash = /blobs\/([0-9a-f]{64})\//.exec(call.request.resourceName)?.[1] ?? '';
      let first = true;
      const upstream = backend.byteStream.read(call.request);
      upstream.on('data', (message: ReadResponse) => {
        counters.bytesSent += message.data.byteLength;
        const data = first && corrupt.has(hash) ? flipped(message.data) : message.data;
        first = false;
        call.write({ data });
      });
      upstream.on('end', () => call.end());
      upstream.on('error', (err: ServiceError) => call.emit('error', err));
    },
    write(call, callback) {
      const refusal = deniedTransfer(call.metadata);
      if (refusal) return callback(refusal);
      counters.byteStreamWrites++;
      const upstream = backend.byteStream.write((err, response) => {
        if (err) callback(err);
        else callback(null, response);
      });
      call.on('data', (message: WriteRequest) => {
        counters.bytesReceived += message.data.byteLength;
        upstream.write(message);
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
