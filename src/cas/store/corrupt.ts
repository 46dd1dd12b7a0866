import { CasError } from '../../errors.js';
import { type Digest, formatDigest } from '../digest.js';

/** What to do about an object of a local casd cache that does not match its digest. */
export const VERIFY_HINT =
  'run `casd-action verify` to evict damaged objects from the local cache (a later restore fetches good copies)';

/** What to do about a blob a server sent with the wrong bytes. */
export const RECEIVED_HINT =
  "the server's copy is damaged (when it is a casd cache, `casd-action verify` there evicts damaged objects)";

/** Where a casd cache keeps an object: `.../cas/objects/<2 hex>/<62 hex>`. */
const OBJECT_PATH = /[\\/]cas[\\/]objects[\\/][0-9a-f]{2}[\\/][0-9a-f]{62}$/;

/** True when `path` names an object file of a casd cache. */
export function isObjectPath(path: string): boolean {
  return OBJECT_PATH.test(path);
}

/** `holds N bytes hashing to H`: what a damaged file holds, for messages. */
export function holding(actual: Digest): string {
  return `holds ${actual.sizeBytes} bytes hashing to ${actual.hash}`;
}

/**
 * CasError('corrupt-data') for the object `digest` of the local cache whose file `path` does
 * not match it (`detail`: what the file holds, see holding). Names the object as corrupt and
 * says what to run.
 */
export function corruptObject(digest: Digest, path: string, detail: string): CasError {
  return new CasError(
    'corrupt-data',
    `object ${formatDigest(digest)} is corrupt: the local cache's file ${path} ${detail}; ${VERIFY_HINT}`,
  );
}
