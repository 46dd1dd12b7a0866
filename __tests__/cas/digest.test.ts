import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCasError } from '../../src/errors.js';
import {
  EMPTY_DIGEST,
  digestKey,
  digestOfBuffer,
  digestOfFile,
  digestOfMessage,
  formatDigest,
  parseDigest,
  sameDigest,
  validateDigest,
} from '../../src/cas/digest.js';
import { Digest, Directory } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';

const HELLO = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

function sha256sum(path: string): string {
  return execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0];
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('digests of data', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'casd-digest-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('digestOfBuffer gives the SHA-256 and the byte length', () => {
    expect(digestOfBuffer(Buffer.from('hello'))).toEqual({ hash: HELLO, sizeBytes: 5 });
    expect(digestOfBuffer(new Uint8Array(0))).toEqual(EMPTY_DIGEST);
  });

  it('EMPTY_DIGEST is the digest of no bytes and cannot be changed', () => {
    expect(EMPTY_DIGEST.hash).toBe(digestOfBuffer(Buffer.alloc(0)).hash);
    expect(Object.isFrozen(EMPTY_DIGEST)).toBe(true);
  });

  it('digestOfFile of an empty file is the empty digest', async () => {
    const path = join(dir, 'empty');
    writeFileSync(path, '');
    expect(await digestOfFile(path)).toEqual(EMPTY_DIGEST);
    expect(sha256sum(path)).toBe(EMPTY_DIGEST.hash);
  });

  it('digestOfFile of a file larger than its 1 MiB read chunk matches sha256sum', async () => {
    const path = join(dir, 'big');
    const size = 3 * 1024 * 1024 + 17;
    writeFileSync(path, randomBytes(size));
    const digest = await digestOfFile(path);
    expect(digest).toEqual({ hash: sha256sum(path), sizeBytes: size });
  });

  it('digestOfFile names the path when the file cannot be read', async () => {
    const path = join(dir, 'missing');
    const err = await digestOfFile(path).catch((e: unknown) => e);
    expect(isCasError(err, 'io')).toBe(true);
    expect((err as Error).message).toContain(`cannot digest file ${path}`);
    expect((err as Error).message).toContain('ENOENT');
    expect((err as Error).cause).toBeDefined();
  });

  it('digestOfMessage digests the serialised message and returns the bytes', () => {
    const directory = Directory.fromPartial({ files: [{ name: 'a', digest: EMPTY_DIGEST }] });
    const { digest, data } = digestOfMessage(Directory, directory);
    expect(Buffer.from(data)).toEqual(Buffer.from(Directory.encode(directory).finish()));
    expect(digest).toEqual(digestOfBuffer(data));
    expect(Directory.decode(data)).toEqual(directory);
  });

  it('the empty Directory message has the empty digest', () => {
    expect(digestOfMessage(Directory, Directory.fromPartial({})).digest).toEqual(EMPTY_DIGEST);
  });
});

describe('digest text form', () => {
  it('formatDigest writes hash/size and parseDigest reads it back', () => {
    const digest = { hash: HELLO, sizeBytes: 5 };
    expect(formatDigest(digest)).toBe(`${HELLO}/5`);
    expect(parseDigest(formatDigest(digest))).toEqual(digest);
    expect(parseDigest(`  ${HELLO}/5\n`)).toEqual(digest);
  });

  it.each([
    [`${HELLO}`, 'is not of the form HASH/SIZE', `"${HELLO}"`],
    [`${HELLO}/`, 'is not of the form HASH/SIZE', `"${HELLO}/"`],
    [`${HELLO}/-1`, 'is not of the form HASH/SIZE', `"${HELLO}/-1"`],
    [`${HELLO}/1.5`, 'is not of the form HASH/SIZE', `"${HELLO}/1.5"`],
    ['/5', 'is not of the form HASH/SIZE', '"/5"'],
    [
      `${HELLO.toUpperCase()}/5`,
      'is not 64 lowercase hexadecimal characters',
      `hash "${HELLO.toUpperCase()}"`,
    ],
    [`${HELLO.slice(1)}/5`, 'is not 64 lowercase hexadecimal characters', `hash "${HELLO.slice(1)}"`],
    [`${'g'.repeat(64)}/5`, 'is not 64 lowercase hexadecimal characters', `hash "${'g'.repeat(64)}"`],
    [`${HELLO}/99999999999999999999`, 'is not a non-negative integer', 'size 100000000000000000000'],
  ])('parseDigest rejects "%s": %s', (text, why, quoted) => {
    const err = thrown(() => parseDigest(text, 'ref main'));
    expect(isCasError(err, 'invalid-digest')).toBe(true);
    expect(err.message.startsWith('ref main: ')).toBe(true);
    expect(err.message).toContain(why);
    expect(err.message).toContain(quoted);
  });

  it('parseDigest names the form it expects', () => {
    expect(thrown(() => parseDigest('nonsense')).message).toBe(
      'digest: "nonsense" is not of the form HASH/SIZE (64 hex digits, a slash, a byte count)',
    );
  });

  it('validateDigest returns a good digest and quotes a bad hash', () => {
    const good = Digest.fromPartial({ hash: HELLO, sizeBytes: 5 });
    expect(validateDigest(good)).toBe(good);
    expect(thrown(() => validateDigest({ hash: 'abc', sizeBytes: 1 }, 'root')).message).toBe(
      'root: hash "abc" is not 64 lowercase hexadecimal characters (SHA-256)',
    );
  });

  it('validateDigest rejects negative and fractional sizes', () => {
    expect(thrown(() => validateDigest({ hash: HELLO, sizeBytes: -1 })).message).toBe(
      'digest: size -1 is not a non-negative integer',
    );
    expect(thrown(() => validateDigest({ hash: HELLO, sizeBytes: 1.5 })).message).toBe(
      'digest: size 1.5 is not a non-negative integer',
    );
  });
});

describe('digest comparison', () => {
  it('sameDigest compares hash and size, and is false for a missing digest', () => {
    const a = { hash: HELLO, sizeBytes: 5 };
    expect(sameDigest(a, { ...a })).toBe(true);
    expect(sameDigest(a, { ...a, sizeBytes: 6 })).toBe(false);
    expect(sameDigest(a, EMPTY_DIGEST)).toBe(false);
    expect(sameDigest(a, undefined)).toBe(false);
    expect(sameDigest(undefined, undefined)).toBe(false);
  });

  it('digestKey is the hash', () => {
    expect(digestKey({ hash: HELLO, sizeBytes: 5 })).toBe(HELLO);
  });
});
