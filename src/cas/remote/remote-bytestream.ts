import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { Transform } from 'node:stream';
import { Metadata, type CallOptions } from '@grpc/grpc-js';
import { CasError, isCasError } from '../../errors.js';
import type { ByteStreamClient, WriteRequest } from '../../gen/google/bytestream/bytestream.js';
import { grpcToCasError, isGrpcError } from '../../grpc/call.js';
import { RECEIVED_HINT, corruptObject, holding, isObjectPath } from '../store/corrupt.js';
import { type Digest, formatDigest } from '../digest.js';
import { BYTESTREAM_CHUNK_BYTES } from '../options.js';
import { zstdCompressStream, zstdDecompressStream } from './compression.js';

export { BYTESTREAM_CHUNK_BYTES } from '../options.js';

// `blobs/{hash}/{size}`, or `compressed-blobs/zstd/{hash}/{size}` (the uncompressed digest).
function blobPath(digest: Digest, zstd: boolean): string {
  return `${zstd ? 'compressed-blobs/zstd' : 'blobs'}/${digest.hash}/${digest.sizeBytes}`;
}

/**
 * `{instance}/blobs/{hash}/{size}` (`compressed-blobs/zstd/...` with `zstd`); the instance and
 * its slash are omitted when empty.
 */
export function readResourceName(instanceName: string, digest: Digest, zstd = false): string {
  const path = blobPath(digest, zstd);
  return instanceName ? `${instanceName}/${path}` : path;
}

/** `{instance}/uploads/{uuid}/blobs/{hash}/{size}` (or compressed-blobs), a fresh uuid per upload. */
export function writeResourceName(
  instanceName: string,
  digest: Digest,
  uuid = randomUUID(),
  zstd = false,
): string {
  const path = `uploads/${uuid}/${blobPath(digest, zstd)}`;
  return instanceName ? `${instanceName}/${path}` : path;
}

function corrupt(digest: Digest, actual: string, size: number): CasError {
  return new CasError(
    'corrupt-data',
    `blob ${formatDigest(digest)} received with wrong content: got ${size} bytes hashing to ${actual}; ${RECEIVED_HINT}`,
  );
}

// What an upload found in its source instead of `digest`: an object of the local cache is
// corrupt (named as such); any other source changed since it was hashed.
function corruptSource(digest: Digest, source: UploadSource, detail: string): CasError {
  if ('path' in source && isObjectPath(source.path)) return corruptObject(digest, source.path, detail);
  const what = 'path' in source ? `file ${source.path}` : 'the buffer';
  return new CasError(
    'corrupt-data',
    `cannot upload blob ${formatDigest(digest)}: ${what} ${detail}; was it changed after it was hashed?`,
  );
}

function callOptions(timeoutMs: number | undefined): Partial<CallOptions> {
  return timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs };
}

/** How a ByteStream transfer goes: its deadline, and whether as zstd (`compressed-blobs`). */
export interface ByteStreamOptions {
  timeoutMs?: number;
  zstd?: boolean;
}

// `input` fed through `transform` (each chunk shown to `onInput` first), as its output comes.
async function* through(
  transform: Transform,
  input: AsyncIterable<Buffer>,
  onInput?: (chunk: Buffer) => void,
): AsyncGenerator<Buffer> {
  const feeding = (async () => {
    for await (const chunk of input) {
      onInput?.(chunk);
      if (!transform.write(chunk)) await once(transform, 'drain');
    }
    transform.end();
  })();
  feeding.catch((err: Error) => transform.destroy(err));
  for await (const out of transform as AsyncIterable<Buffer>) yield out;
  await feeding;
}

// The messages' data, decompressed when the read is of compressed-blobs.
async function* readData(stream: AsyncIterable<{ data: Buffer }>, zstd: boolean): AsyncGenerator<Buffer> {
  async function* data(): AsyncGenerator<Buffer> {
    for await (const message of stream) yield message.data;
  }
  yield* zstd ? through(zstdDecompressStream(), data()) : data();
}

/**
 * Streams one blob from ByteStream Read to `sink`, hashing as it goes (the decompressed
 * bytes, with `zstd`). Throws CasError('corrupt-data') naming the digest when the bytes do
 * not match it.
 */
async function readStream(
  client: ByteStreamClient,
  instanceName: string,
  digest: Digest,
  sink: (chunk: Buffer) => Promise<void> | void,
  options: ByteStreamOptions,
): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  const zstd = options.zstd ?? false;
  const stream = client.read(
    { resourceName: readResourceName(instanceName, digest, zstd), readOffset: 0, readLimit: 0 },
    new Metadata(),
    callOptions(options.timeoutMs),
  );
  try {
    for await (const data of readData(stream as AsyncIterable<{ data: Buffer }>, zstd)) {
      size += data.byteLength;
      if (size > digest.sizeBytes) {
        stream.cancel();
        throw corrupt(digest, '(too long)', size);
      }
      hash.update(data);
      await sink(data);
    }
  } catch (err) {
    if (isCasError(err)) throw err;
    if (zstd && !isGrpcError(err)) {
      throw new CasError(
        'corrupt-data',
        `blob ${formatDigest(digest)} received as a broken zstd stream (${(err as Error).message}); ${RECEIVED_HINT}`,
        { cause: err },
      );
    }
    throw grpcToCasError(err, `ByteStream read of ${formatDigest(digest)}`);
  }
  const actual = hash.digest('hex');
  if (actual !== digest.hash || size !== digest.sizeBytes) throw corrupt(digest, actual, size);
}

/** Reads a whole blob through ByteStream into memory, verified against its digest. */
export async function byteStreamRead(
  client: ByteStreamClient,
  instanceName: string,
  digest: Digest,
  options: ByteStreamOptions = {},
): Promise<Buffer> {
  const parts: Buffer[] = [];
  await readStream(client, instanceName, digest, (chunk) => void parts.push(chunk), options);
  return Buffer.concat(parts, digest.sizeBytes);
}

/**
 * Reads a blob through ByteStream straight into the file `path` (never whole in memory).
 * The file is removed again when the read fails or the bytes do not match the digest.
 */
export async function byteStreamReadToFile(
  client: ByteStreamClient,
  instanceName: string,
  digest: Digest,
  path: string,
  options: ByteStreamOptions = {},
): Promise<void> {
  const out = createWriteStream(path);
  try {
    await readStream(
      client,
      instanceName,
      digest,
      async (chunk) => {
        if (!out.write(chunk)) await once(out, 'drain');
      },
      options,
    );
    out.end();
    await once(out, 'finish');
  } catch (err) {
    out.destroy();
    await rm(path, { force: true });
    throw err;
  }
}

/**
 * Where an upload's bytes come from: memory, a file (streamed), or `load`, called when the
 * upload is sent (a blob sliced out of a pack, so that a push holds only what is in flight).
 * `fill`, beside `load`, reads the same bytes into a buffer of exactly their size: a batch
 * reads them straight into its encoded request (batch-encoding.ts).
 */
export type UploadSource =
  | { data: Uint8Array }
  | { path: string }
  | { load: () => Promise<Buffer>; fill?: (target: Buffer) => Promise<void> };

async function* sourceChunks(source: UploadSource): AsyncGenerator<Buffer> {
  if ('data' in source || 'load' in source) {
    const data = 'data' in source ? source.data : await source.load();
    for (let offset = 0; offset < data.byteLength; offset += BYTESTREAM_CHUNK_BYTES) {
      // Views, not copies: each message is encoded (copied) when it is written.
      const end = Math.min(data.byteLength, offset + BYTESTREAM_CHUNK_BYTES);
      yield Buffer.from(data.buffer, data.byteOffset + offset, end - offset);
    }
    return;
  }
  for await (const chunk of createReadStream(source.path, { highWaterMark: BYTESTREAM_CHUNK_BYTES })) {
    yield chunk as Buffer;
  }
}

/**
 * The source's bytes hashed on the way (`onRaw`), then zstd-compressed, in messages of at most
 * BYTESTREAM_CHUNK_BYTES. The last one comes only after the source has ended, so the caller
 * verifies the hash before sending it.
 */
async function* compressedChunks(
  raw: AsyncIterable<Buffer>,
  size: number,
  onRaw: (chunk: Buffer) => void,
): AsyncGenerator<Buffer> {
  for await (const out of through(zstdCompressStream(size), raw, onRaw)) {
    for (let offset = 0; offset < out.byteLength; offset += BYTESTREAM_CHUNK_BYTES) {
      yield out.subarray(offset, offset + BYTESTREAM_CHUNK_BYTES);
    }
  }
}

/**
 * Uploads one blob with ByteStream Write in 1 MiB messages, from memory or streamed from a file;
 * with `zstd`, compressed to `compressed-blobs/zstd/` (offsets count compressed bytes after the
 * first, as REAPI says). The content is hashed on the way and the write is abandoned (CasError
 * 'corrupt-data') when it does not match `digest`, so a file changed on disk never lands under
 * a wrong digest; an object of the local cache that does not match is named as corrupt (see
 * corruptObject).
 */
export async function byteStreamWrite(
  client: ByteStreamClient,
  instanceName: string,
  digest: Digest,
  source: UploadSource,
  options: ByteStreamOptions = {},
): Promise<void> {
  let settled = false;
  let call!: ReturnType<ByteStreamClient['write']>;
  const result = new Promise<number>((resolve, reject) => {
    call = client.write(new Metadata(), callOptions(options.timeoutMs), (err, response) => {
      settled = true;
      if (err) reject(err);
      else resolve(response.committedSize);
    });
  });
  const zstd = options.zstd ?? false;
  const resourceName = writeResourceName(instanceName, digest, undefined, zstd);
  const hash = createHash('sha256');
  let rawBytes = 0;
  const takeRaw = (chunk: Buffer): void => {
    hash.update(chunk);
    rawBytes += chunk.byteLength;
    if (rawBytes > digest.sizeBytes) throw corruptSource(digest, source, 'is longer than its digest');
  };
  // Throws unless the source, now read whole, matched the digest.
  const checkWhole = (): void => {
    if (rawBytes !== digest.sizeBytes) {
      throw corruptSource(digest, source, `holds ${rawBytes} bytes, fewer than its digest says`);
    }
    const actual = hash.digest('hex');
    if (actual !== digest.hash)
      throw corruptSource(digest, source, holding({ hash: actual, sizeBytes: rawBytes }));
  };
  let offset = 0;
  const send = async (data: Buffer, last: boolean): Promise<void> => {
    const request: WriteRequest = {
      resourceName: offset === 0 ? resourceName : '',
      writeOffset: offset,
      finishWrite: last,
      data,
    };
    offset += data.byteLength;
    if (!call.write(request)) await Promise.race([once(call, 'drain'), result]);
  };
  try {
    if (zstd) {
      // One message held back: the last is sent only once the source is verified.
      let held: Buffer | undefined;
      for await (const chunk of compressedChunks(sourceChunks(source), digest.sizeBytes, takeRaw)) {
        if (settled) break;
        if (held) await send(held, false);
        held = chunk;
      }
      if (!settled) {
        checkWhole();
        await send(held ?? Buffer.alloc(0), true);
      }
    } else {
      for await (const chunk of sourceChunks(source)) {
        // Why: a server may answer early when it already holds the blob; stop sending then.
        if (settled) break;
        takeRaw(chunk);
        const last = rawBytes === digest.sizeBytes;
        if (last) checkWhole();
        await send(chunk, last);
      }
      if (!settled && rawBytes !== digest.sizeBytes) checkWhole();
    }
    call.end();
    const committed = await result;
    // Compressed: the compressed bytes sent (some servers give the blob's size); -1: it was there.
    const accepted = zstd ? [offset, digest.sizeBytes, -1] : [digest.sizeBytes, -1];
    if (!accepted.includes(committed)) {
      throw new CasError(
        'remote-error',
        `ByteStream write of ${formatDigest(digest)} committed ${committed} bytes, expected ${accepted[0]}`,
      );
    }
  } catch (err) {
    if (!settled) call.cancel();
    result.catch(() => undefined);
    throw grpcToCasError(err, `ByteStream write of ${formatDigest(digest)}`);
  }
}
