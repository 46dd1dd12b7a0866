import { validateRefName } from '../cas/store/ref-names.js';
import { UsageError } from './command.js';

/** A tree named by its digest on the command line: `HASH/SIZE`. */
export const DIGEST_FORM = /^[0-9a-f]{64}\/\d+$/;

/**
 * Throws UsageError (exit 2) with the library's message unless `name` follows the one rule
 * for ref names (src/cas/ref-names.ts), before anything starts or touches the cache.
 */
export function checkRefName(name: string): void {
  try {
    validateRefName(name);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** checkRefName for an operand that may also be a `HASH/SIZE` digest. */
export function checkTarget(text: string): void {
  if (!DIGEST_FORM.test(text)) checkRefName(text);
}
