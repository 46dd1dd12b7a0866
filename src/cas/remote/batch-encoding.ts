import type { Compressor_Value } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Digest } from '../digest.js';

/**
 * BatchUpdateBlobsRequest written into one buffer whose blob data regions the caller fills
 * afterwards (a pack read straight into place). Why not the generated encoder: it copies each
 * blob into a writer that grows by doubling, then copies the whole message once more, so a
 * 291 MB push allocated ~1 GB of garbage and spent ~0.6 s of its main thread in GC and copies
 * (profiled), on 2 cores beside the server. The bytes are those the generated encoder writes
 * (fields in number order, defaults left out), which a test checks.
 */
export interface BatchPart {
  digest: Digest;
  /** Bytes of the data field: the blob's size, or its zstd frame's. */
  length: number;
  compressor: Compressor_Value;
}

export interface EncodedBatch {
  /** The whole encoded request. */
  message: Buffer;
  /** For each part, the view of `message` its data goes into. */
  regions: Buffer[];
}

// Wire types: 0 varint, 2 length-delimited.
const TAG_INSTANCE_NAME = (1 << 3) | 2;
const TAG_REQUESTS = (2 << 3) | 2;
const TAG_REQUEST_DIGEST = (1 << 3) | 2;
const TAG_REQUEST_DATA = (2 << 3) | 2;
const TAG_REQUEST_COMPRESSOR = 3 << 3;
const TAG_DIGEST_HASH = (1 << 3) | 2;
const TAG_DIGEST_SIZE = 2 << 3;

/**
 * Encodes the request for `parts` under `instanceName` (digest function left as default), into
 * a buffer of `allocate` (at least the size asked; only that much of it is used).
 */
export function encodeBatchUpdate(
  instanceName: string,
  parts: readonly BatchPart[],
  allocate: (bytes: number) => Buffer = (bytes) => Buffer.allocUnsafe(bytes),
): EncodedBatch {
  const name = Buffer.from(instanceName, 'utf8');
  const sizes = parts.map((part) => {
    const digest = digestLength(part.digest);
    const request =
      field(digest) +
      (part.length > 0 ? field(part.length) : 0) +
      (part.compressor !== 0 ? 1 + varintLength(part.compressor) : 0);
    return { digest, request };
  });
  let total = name.byteLength > 0 ? field(name.byteLength) : 0;
  for (const size of sizes) total += field(size.request);

  const message = allocate(total).subarray(0, total);
  const regions: Buffer[] = [];
  let at = 0;
  const varint = (value: number): void => {
    at = writeVarint(message, at, value);
  };
  if (name.byteLength > 0) {
    message[at++] = TAG_INSTANCE_NAME;
    varint(name.byteLength);
    at += name.copy(message, at);
  }
  parts.forEach((part, i) => {
    const { digest, request } = sizes[i];
    message[at++] = TAG_REQUESTS;
    varint(request);
    message[at++] = TAG_REQUEST_DIGEST;
    varint(digest);
    const hash = Buffer.byteLength(part.digest.hash, 'utf8');
    message[at++] = TAG_DIGEST_HASH;
    varint(hash);
    at += message.write(part.digest.hash, at, 'utf8');
    if (part.digest.sizeBytes > 0) {
      message[at++] = TAG_DIGEST_SIZE;
      varint(part.digest.sizeBytes);
    }
    if (part.length > 0) {
      message[at++] = TAG_REQUEST_DATA;
      varint(part.length);
    }
    regions.push(message.subarray(at, at + part.length));
    at += part.length;
    if (part.compressor !== 0) {
      message[at++] = TAG_REQUEST_COMPRESSOR;
      varint(part.compressor);
    }
  });
  if (at !== total) throw new Error(`BatchUpdateBlobsRequest encoded to ${at} bytes, sized ${total}`);
  return { message, regions };
}

function digestLength(digest: Digest): number {
  const hash = Buffer.byteLength(digest.hash, 'utf8');
  return field(hash) + (digest.sizeBytes > 0 ? 1 + varintLength(digest.sizeBytes) : 0);
}

// A length-delimited field of `length` bytes: its one-byte tag, the length, the bytes.
function field(length: number): number {
  return 1 + varintLength(length) + length;
}

function varintLength(value: number): number {
  let bytes = 1;
  for (let v = value; v >= 128; v = Math.floor(v / 128)) bytes++;
  return bytes;
}

// Arithmetic, not bit operations: sizes may exceed 2^31.
function writeVarint(target: Buffer, at: number, value: number): number {
  let v = value;
  while (v >= 128) {
    target[at++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  target[at++] = v;
  return at;
}

/**
 * Buffers for encoded batches, given back once their call has ended (grpc-js has copied the
 * message into its frame by then). Why: a fresh 2 MiB buffer a call is page faults and
 * external memory that V8 answers with full collections (a 291 MB push: ~0.5 s of GC, and
 * reads into fresh buffers cost twice those into a reused one, measured).
 */
export class MessageBuffers {
  private readonly free: Buffer[] = [];

  constructor(
    /** Size of a pooled buffer; bigger requests get one of their own. */
    private readonly bytes: number,
    private readonly keep: number,
  ) {}

  take(bytes: number): Buffer {
    if (bytes > this.bytes) return Buffer.allocUnsafe(bytes);
    return this.free.pop() ?? Buffer.allocUnsafe(this.bytes);
  }

  /** Gives back a buffer `take` returned, once nothing reads it any more. */
  give(buffer: Buffer): void {
    if (buffer.byteLength === this.bytes && this.free.length < this.keep) this.free.push(buffer);
  }
}
