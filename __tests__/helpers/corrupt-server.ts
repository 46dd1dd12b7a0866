// A REAPI remote that lies about blob contents, for fault tests: a grpc-js server built from
// the generated service definitions (the real wire protocol) in front of a real casd, that
// serves chosen blobs with a byte flipped or cut short, in BatchReadBlobs and ByteStream Read.
//
//   const remote = await startCorruptRemote(backend.socket, { flip: new Set([hash]) });
//   // remote.url: grpc://127.0.0.1:PORT
import {
  Server,
  ServerCredentials,
  type ServerErrorResponse,
  type ServiceError,
  type sendUnaryData,
  status,
  type Metadata,
} from '@grpc/grpc-js';
import {
  CapabilitiesService,
  type CapabilitiesServer,
  ContentAddressableStorageService,
  type ContentAddressableStorageServer,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  ByteStreamService,
  type ByteStreamServer,
  type ReadResponse,
} from '../../src/gen/google/bytestream/bytestream.js';
import { unary } from '../../src/grpc/call.js';
import { Connection } from '../../src/grpc/connection.js';

export interface CorruptRemoteOptions {
  /** Blobs (by hash) served with their first byte flipped. */
  flip?: Set<string>;
  /** Blobs (by hash) served cut to half their length. */
  truncate?: Set<string>;
  /** Refuse blob reads from casd (user-agent grpc-c++), so a client's direct fallback runs. */
  refuseCasd?: boolean;
  /** Batch limit advertised in Capabilities (default 64 KiB: bigger blobs go by ByteStream). */
  maxBatchBytes?: number;
}

export interface CorruptRemote {
  url: string;
  /** Blob reads served, by path: batch and ByteStream. */
  counters: { batchReads: number; byteStreamReads: number; refused: number };
  stop(): Promise<void>;
}

function damage(hash: string, data: Buffer, options: CorruptRemoteOptions): Buffer {
  if (options.truncate?.has(hash)) return data.subarray(0, Math.floor(data.byteLength / 2));
  if (options.flip?.has(hash) && data.byteLength > 0) {
    const copy = Buffer.from(data);
    copy[0] ^= 0xff;
    return copy;
  }
  return data;
}

function forward<T>(callback: sendUnaryData<T>, promise: Promise<T>): void {
  promise.then(
    (response) => callback(null, response),
    (err: ServiceError) => callback(err),
  );
}

/** Starts the lying remote in front of the casd at `backendAddress` (e.g. its unix socket). */
export async function startCorruptRemote(
  backendAddress: string,
  options: CorruptRemoteOptions = {},
): Promise<CorruptRemote> {
  const backend = new Connection(backendAddress);
  const counters = { batchReads: 0, byteStreamReads: 0, refused: 0 };
  const refusal = (metadata: Metadata): ServerErrorResponse | undefined => {
    if (!options.refuseCasd || !/grpc-c\+\+/.test(String(metadata.get('user-agent')[0] ?? '')))
      return undefined;
    counters.refused++;
    return {
      name: 'FailedPrecondition',
      message: 'refused',
      code: status.FAILED_PRECONDITION,
      details: 'casd refused',
    };
  };

  const capabilities: CapabilitiesServer = {
    getCapabilities(call, callback) {
      forward(
        callback,
        unary(backend.capabilities.getCapabilities.bind(backend.capabilities), call.request).then((caps) => ({
          ...caps,
          cacheCapabilities: caps.cacheCapabilities && {
            ...caps.cacheCapabilities,
            maxBatchTotalSizeBytes: options.maxBatchBytes ?? 64 * 1024,
          },
        })),
      );
    },
  };
  const cas: ContentAddressableStorageServer = {
    findMissingBlobs(call, callback) {
      forward(callback, unary(backend.cas.findMissingBlobs.bind(backend.cas), call.request));
    },
    batchUpdateBlobs(call, callback) {
      forward(callback, unary(backend.cas.batchUpdateBlobs.bind(backend.cas), call.request));
    },
    batchReadBlobs(call, callback) {
      const refused = refusal(call.metadata);
      if (refused) return callback(refused);
      counters.batchReads++;
      forward(
        callback,
        unary(backend.cas.batchReadBlobs.bind(backend.cas), call.request).then((response) => {
          for (const entry of response.responses) {
            if (entry.digest) entry.data = damage(entry.digest.hash, entry.data, options);
          }
          return response;
        }),
      );
    },
    getTree(call) {
      call.emit('error', { code: status.UNIMPLEMENTED, details: 'no GetTree here' });
    },
  };
  const byteStream: ByteStreamServer = {
    read(call) {
      const refused = refusal(call.metadata);
      if (refused) return call.emit('error', refused);
      counters.byteStreamReads++;
      const hash = /blobs\/([0-9a-f]{64})\//.exec(call.request.resourceName)?.[1] ?? '';
      const chunks: Buffer[] = [];
      const upstream = backend.byteStream.read(call.request);
      upstream.on('data', (message: ReadResponse) => chunks.push(message.data));
      upstream.on('end', () => {
        call.write({ data: damage(hash, Buffer.concat(chunks), options) });
        call.end();
      });
      upstream.on('error', (err: ServiceError) => call.emit('error', err));
    },
    write(call, callback) {
      const upstream = backend.byteStream.write((err, response) =>
        err ? callback(err) : callback(null, response),
      );
      call.on('data', (message) => upstream.write(message));
      call.on('end', () => upstream.end());
      call.on('error', () => upstream.cancel());
    },
    queryWriteStatus(call, callback) {
      forward(callback, unary(backend.byteStream.queryWriteStatus.bind(backend.byteStream), call.request));
    },
  };

  const server = new Server({
    'grpc.max_receive_message_length': 64 << 20,
    'grpc.max_send_message_length': 64 << 20,
  });
  server.addService(CapabilitiesService, capabilities);
  server.addService(ContentAddressableStorageService, cas);
  server.addService(ByteStreamService, byteStream);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return {
    url: `grpc://127.0.0.1:${port}`,
    counters,
    async stop() {
      server.forceShutdown();
      backend.close();
    },
  };
}
