import { makeGenericClientConstructor } from '@grpc/grpc-js';
import {
  BatchUpdateBlobsRequest,
  BatchReadBlobsResponse,
  ContentAddressableStorageClient,
  ContentAddressableStorageService,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  ByteStreamClient,
  ByteStreamService,
  ReadResponse,
  WriteRequest,
} from '../gen/google/bytestream/bytestream.js';

// The generated serializers copy every encoded message once more (`Buffer.from(Uint8Array)`)
// before grpc-js copies it again into its frame. For the messages that carry blob data that
// is megabytes of garbage per call, which V8 collects late (it sees only small Buffer objects),
// so a push's memory grew by the data in flight several times over. A view costs nothing.
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A BatchUpdateBlobsRequest already encoded (cas/remote/batch-encoding.ts), typed as the request
 * so that it goes through the client's method; the serializer passes it on as it is.
 */
export function preEncodedBatchUpdate(message: Buffer): BatchUpdateBlobsRequest {
  return message as unknown as BatchUpdateBlobsRequest;
}

const casService = {
  ...ContentAddressableStorageService,
  batchUpdateBlobs: {
    ...ContentAddressableStorageService.batchUpdateBlobs,
    requestSerialize: (value: BatchUpdateBlobsRequest | Buffer): Buffer =>
      Buffer.isBuffer(value) ? value : view(BatchUpdateBlobsRequest.encode(value).finish()),
  },
  batchReadBlobs: {
    ...ContentAddressableStorageService.batchReadBlobs,
    responseSerialize: (value: BatchReadBlobsResponse): Buffer =>
      view(BatchReadBlobsResponse.encode(value).finish()),
  },
};

const byteStreamService = {
  ...ByteStreamService,
  read: {
    ...ByteStreamService.read,
    responseSerialize: (value: ReadResponse): Buffer => view(ReadResponse.encode(value).finish()),
  },
  write: {
    ...ByteStreamService.write,
    requestSerialize: (value: WriteRequest): Buffer => view(WriteRequest.encode(value).finish()),
  },
};

/** The CAS client of the generated code, sending blob data without the extra copy. */
export const BulkCasClient = makeGenericClientConstructor(
  casService,
  'build.bazel.remote.execution.v2.ContentAddressableStorage',
) as unknown as typeof ContentAddressableStorageClient;

/** The ByteStream client of the generated code, sending blob data without the extra copy. */
export const BulkByteStreamClient = makeGenericClientConstructor(
  byteStreamService,
  'google.bytestream.ByteStream',
) as unknown as typeof ByteStreamClient;
