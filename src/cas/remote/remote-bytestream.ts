import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { Metadata, type CallOptions } from '@grpc/grpc-js';
import { CasError } from '../../errors.js';
import type { ByteStreamClient, WriteRequest } from '../../gen/google/bytestream/bytestream.js';
import { grpcToCasError } from '../../grpc/call.js';
import { RECEIVED_HINT, corruptObject, holding, isObjectPath } from '../store/corrupt.js';
import { type Digest, formatDigest } from '../digest.js';
import { BYTESTREAM_CHUNK_BYTES } from '../options.js';

export { BYTESTREAM_CHUNK_BYTES } from '../options.js';

/** `{instance}/blobs/{hash}/{size}`; the instance and its slash are omitted when empty. */
export function readResourceName(instanceName: string, digest: Digest): string {
  const path = `blobs/${digest.hash}/${digest.sizeBytes}`;
  return instanceName ? `${instanceName}/${path}` : path;
}

/** `{instance}/uploads/{uuid}/blobs/{hash}/{size}`, with a fresh random uuid per upload. */
export function writeResourceName(instanceName: string, digest: Digest, uuid = randomUUID()): string {
  const path = `uploads/${uuid}/blobs/${digest.hash}/${digest.sizeBytes}`;
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

/**
 * Streams one blob from ByteStream Read to `sink`, hashing as it goes.
 * Throws CasError('corrupt-data') naming the digest when the bytes do not match it.
 */
async function readStream(
  client: ByteStreamClient,
  instanceName: string,
  digest: Digest,
  sink: (chunk: Buffer) => Promise<void> | void,
  timeoutMs?: number,
): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  const stream = client.read(
    { resourceName: readResourceName(instanceName, digest), readOffset: 0, readLimit: 0 },
    new Metadata(),
    callOptions(timeoutMs),
  );
  try {
    for await (const message of stream as AsyncIterable<{ data: Buffer }>) {
      size += message.data.byteLength;
      if (size > digest.sizeBytes) {
        stream.cancel();
        throw corrupt(digest, '(too long)', size);
      }
      hash.update(message.data);
      await sink(message.data);
    }
  } catch (err) {
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
  timeoutMs?: number,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  await readStream(client, instanceName, digest, (chunk) => void parts.push(chunk), timeoutMs);
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
  timeoutMs?: number,
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
      timeoutMs,
    );
    out.end();
    await once(out, 'finish');
  } catch (err) {
    out.destroy();
    await rm(path, { force: true });
    throw err;
  }
}

/** The data of one upload: a buffer, or a file read in 1 MiB chunks. */
export type UploadSource = { data: Uint8Array } | { path: string };

async function* sourceChunks(source: UploadSource): AsyncGenerator<Buffer> {
  if ('data' in source) {
    for (let offset = 0; offset < source.data.byteLength; offset += BYTESTREAM_CHUNK_BYTES) {
      yield Buffer.from(source.data.subarray(offset, offset + BYTESTREAM_CHUNK_BYTES));
    }
    return;
  }
  for await (const chunk of createReadStream(source.path, { highWaterMark: BYTESTREAM_CHUNK_BYTES })) {
    yield chunk as Buffer;
  }
}

/**
 * Uploads one blob with ByteStream Write in 1 MiB messages, from memory or streamed from a file.
 * The content is hashed on the way and the write is abandoned (CasError 'corrupt-data') when
 * it does not match `digest`, so a file changed on disk never lands under a wrong digest; an
 * object of the local cache that does not match is named as corrupt (see corruptObject).
 */
export async function byteStreamWrite(
  client: ByteStreamClient,
  instanceName: string,
  digest: Digest,
  source: UploadSource,
  timeoutMs?: number,
): Promise<void> {
  let settled = false;
  let call!: ReturnType<ByteStreamClient['write']>;
  const result = new Promise<number>((resolve, reject) => {
    call = client.write(new Metadata(), callOptions(timeoutMs), (err, response) => {
      settled = true;
      if (err) reject(err);
      else resolve(response.committedSize);
    });
  });
  const resourceName = writeResourceName(instanceName, digest);
  const hash = createHash('sha256');
  let offset = 0;
  try {
    for await (const chunk of sourceChunks(source)) {
      // Why: a server may answer early when it already holds the blob; stop sending then.
      if (settled) break;
      hash.update(chunk);
      const end = offset + chunk.byteLength;
      if (end > digest.sizeBytes) throw corruptSource(digest, source, 'is longer than its digest');
      const last = end === digest.sizeBytes;
      if (last) {
        const actual = hash.digest('hex');
        if (actual !== digest.hash)
          throw corruptSource(digest, source, holding({ hash: actual, sizeBytes: end }));
      }
      const request: WriteRequest = {
        resourceName: offset === 0 ? resourceName : '',
        writeOffset: offset,
        finishWrite: last,
        data: chunk,
      };
      offset = end;
      if (!call.write(request)) await Promise.race([once(call, 'drain'), result]);
    }
    if (!settled && offset !== digest.sizeBytes) {
      throw corruptSource(digest, source, `holds ${offset} bytes, fewer than its digest says`);
    }
    call.end();
    const committed = await result;
    if (committed !== digest.sizeBytes && committed !== -1) {
      throw new CasError(
        'remote-error',
        `ByteStream write of ${formatDigest(digest)} committed ${committed} bytes, expected ${digest.sizeBytes}`,
      );
    }
  } catch (err) {
    if (!settled) call.cancel();
    result.catch(() => undefined);
    throw grpcToCasError(err, `ByteStream write of ${formatDigest(digest)}`);
  }
}
