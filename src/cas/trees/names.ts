import { CasError } from '../../errors.js';
import { type Digest, formatDigest, validateDigest } from '../digest.js';
import type { Directory } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';

/**
 * Throws CasError('unsafe-tree') unless `name` is a single path component that is safe to
 * create inside a directory: not empty, not `.` or `..`, no `/` and no NUL.
 *
 * `where` says which tree or directory the name came from; it is put in the message.
 */
export function assertSafeName(name: string, where: string): void {
  let problem: string | undefined;
  if (name === '') problem = 'is empty';
  else if (name === '.' || name === '..') problem = 'is a relative directory reference';
  else if (name.includes('/')) problem = 'contains "/"';
  else if (name.includes('\0')) problem = 'contains a NUL character';
  if (problem !== undefined) {
    throw new CasError('unsafe-tree', `${where}: entry name ${JSON.stringify(name)} ${problem}`);
  }
}

/**
 * Checks a Directory read from the store before anything trusts it: every name must pass
 * `assertSafeName`, every file and subdirectory must carry a digest, and names must be unique
 * across files, directories and symlinks, and every digest must be well formed (a file `a` beside a directory `a` would let a
 * checkout write through one into the other).
 *
 * Sorted order is not required: some producers do not sort, and nothing here depends on it.
 *
 * Throws CasError('unsafe-tree') naming `digest` and the offending name.
 */
export function validateDirectory(directory: Directory, digest: Digest): void {
  const where = `directory ${formatDigest(digest)}`;
  const seen = new Set<string>();
  const check = (name: string): void => {
    assertSafeName(name, where);
    if (seen.has(name)) {
      throw new CasError(
        'unsafe-tree',
        `${where}: entry name ${JSON.stringify(name)} appears more than once`,
      );
    }
    seen.add(name);
  };
  // A digest is also a path in the object store: a hash such as `../../x` must never get
  // as far as objectPath().
  const checkDigest = (kind: string, name: string, child: Digest | undefined): void => {
    const what = `${where}: ${kind} ${JSON.stringify(name)}`;
    if (!child) throw new CasError('unsafe-tree', `${what} has no digest`);
    try {
      validateDigest(child, what);
    } catch (err) {
      throw new CasError('unsafe-tree', (err as Error).message, { cause: err });
    }
  };
  for (const file of directory.files) {
    check(file.name);
    checkDigest('file', file.name, file.digest);
  }
  for (const dir of directory.directories) {
    check(dir.name);
    checkDigest('directory', dir.name, dir.digest);
  }
  for (const link of directory.symlinks) {
    check(link.name);
    if (link.target === '' || link.target.includes('\0')) {
      throw new CasError(
        'unsafe-tree',
        `${where}: symlink ${JSON.stringify(link.name)} has an empty target or a target with a NUL`,
      );
    }
  }
}

// Below U+D800, UTF-16 code unit order is code point order, which is UTF-8 byte order; a
// surrogate (U+10000 and up) sorts below U+E000..U+FFFF in UTF-16 but above it in UTF-8.
const BEYOND_ORDER_SAFE = /[\uD800-\uFFFF]/;

/**
 * Orders entry names as REAPI Directories list them: by their UTF-8 bytes (casd's order).
 * Plain string comparison unless a name holds a character where the two orders differ.
 */
export function compareNames(a: string, b: string): number {
  if (BEYOND_ORDER_SAFE.test(a) || BEYOND_ORDER_SAFE.test(b)) {
    return Buffer.compare(Buffer.from(a), Buffer.from(b));
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** compareNames on the entries' names, for sort(). */
export function byName(a: { name: string }, b: { name: string }): number {
  return compareNames(a.name, b.name);
}
