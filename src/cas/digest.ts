import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { CasError } from '../errors.js';
import { Digest } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';

export { Digest };

const HASH_PATTERN = /^[0-9a-f]{64}$/;

/** The digest of the empty blob, which every REAPI server holds implicitly. */
export const EMPTY_DIGEST: Digest = Object.freeze({
  hash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  sizeBytes: 0,
});

/** SHA-256 digest of an in-memory blob. */
export function digestOfBuffer(data: Uint8Array): Digest {
  return { hash: createHash('sha256').update(data).digest('hex'), sizeBytes: data.byteLength };
}

/**
 * SHA-256 digest of a file, read as a stream so large files never sit in memory.
 * Throws a CasError (reason `io`, the fs error as cause) naming the path when it cannot be read.
 */
export async function digestOfFile(path: string): Promise<Digest> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      sizeBytes += (chunk as Buffer).byteLength;
    }
  } catch (err) {
    throw new CasError('io', `cannot digest file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return { hash: hash.digest('hex'), sizeBytes };
}

/** Anything ts-proto generated: a message type with `encode`. */
export interface MessageType<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** Serialises a proto message and digests the bytes; returns both, as callers need both. */
export function digestOfMessage<T>(type: MessageType<T>, message: T): { digest: Digest; data: Uint8Array } {
  const data = type.encode(message).finish();
  return { digest: digestOfBuffer(data), data };
}

/** `hash/size`, the form used in logs, refs and the CLI. */
export function formatDigest(digest: Digest): string {
  return `${digest.hash}/${digest.sizeBytes}`;
}

/** Throws a CasError naming `what` unless `digest` is a well-formed SHA-256 digest. */
export function validateDigest(digest: Digest, what = 'digest'): Digest {
  if (!HASH_PATTERN.test(digest.hash)) {
    throw new CasError(
      'invalid-digest',
      `${what}: hash "${digest.hash}" is not 64 lowercase hexadecimal characters (SHA-256)`,
    );
  }
  if (!Number.isSafeInteger(digest.sizeBytes) || digest.sizeBytes < 0) {
    throw new CasError('invalid-digest', `${what}: size ${digest.sizeBytes} is not a non-negative integer`);
  }
  return digest;
}

/** Parses `hash/size` (the inverse of formatDigest), with a clear error on bad input. */
export function parseDigest(text: string, what = 'digest'): Digest {
  const match = /^([^/]+)\/(\d+)$/.exec(text.trim());
  if (!match) {
    throw new CasError(
      'invalid-digest',
      `${what}: "${text}" is not of the form HASH/SIZE (64 hex digits, a slash, a byte count)`,
    );
  }
  return validateDigest({ hash: match[1], sizeBytes: Number(match[2]) }, what);
}

/** True when the two digests name the same blob. */
export function sameDigest(a: Digest | undefined, b: Digest | undefined): boolean {
  return a !== undefined && b !== undefined && a.hash === b.hash && a.sizeBytes === b.sizeBytes;
}

/** A key for maps and sets; the hash alone identifies a SHA-256 blob. */
export function digestKey(digest: Digest): string {
  return digest.hash;
}
