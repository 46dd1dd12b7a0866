import { createHash } from 'node:crypto';
import { encodeRefComponent } from '../cas/store/ref-names.js';
import type { RefStore } from '../cas/store/refs.js';

/**
 * actions/cache keys live as refs `keys/k-<key, percent-encoded>`: encoding keeps `/`, `..`,
 * spaces, `$(...)` and newlines in a key from shaping the ref path or breaking the ref-name
 * rule.
 */
export function keyRef(key: string): string {
  return `keys/k-${encodeRefComponent(key)}`;
}

/** Every restore-key pointer ref starts with this. */
export const POINTER_REF_PREFIX = 'restore-keys/';

/**
 * A remote cannot list refs, so a save publishes pointers for prefixes of its key (see
 * keyPrefixes): `restore-keys/v-<patterns>/k-<prefix, percent-encoded>`, overwritten by each
 * save, so that it names the newest entry whose key starts with the prefix. `<patterns>` is a
 * hash of the `path` lines: an entry saved for other paths never takes the pointer of the
 * paths restored here (actions/cache keeps entries of other paths apart the same way).
 */
export function pointerRef(prefix: string, patterns: string[]): string {
  const version = createHash('sha256').update(JSON.stringify(patterns)).digest('hex').slice(0, 16);
  return `${POINTER_REF_PREFIX}v-${version}/k-${encodeRefComponent(prefix)}`;
}

/** Ref of the stats record kept with each saved key (for the summary's trend). */
export function statsRef(key: string): string {
  return `stats/k-${encodeRefComponent(key)}`;
}

/** The characters after which a prefix of a key gets a pointer. */
const SEPARATORS = new Set(['-', '_', '.', '/']);

/**
 * How many separator prefixes of one key get pointers, at most. Why 16: keys are a few
 * components (`Linux-node-20.11.1-<hash>` has 5 separators); each pointer costs a small ref
 * and one call at save, so a key with many separators must not cost dozens.
 */
export const MAX_SEPARATOR_PREFIXES = 16;
/** Of a key with more, the shortest ones kept (broad fallbacks such as `Linux-`); the rest are the longest. */
const SHORTEST_KEPT = 4;

/**
 * Why 255: a ref component is one file name. A prefix whose encoded pointer name would be
 * longer cannot be a ref and is skipped.
 */
const MAX_REF_COMPONENT_BYTES = 255;

/**
 * The prefixes of `key` a save points at the key: each that ends at `-`, `_`, `.` or `/`
 * (MAX_SEPARATOR_PREFIXES of them: the SHORTEST_KEPT shortest and the rest longest), plus each
 * of `restoreKeys` that is a prefix of the key (a restore key the key does not start with
 * would never match this entry in actions/cache). Never the key itself: its own ref says it.
 */
export function keyPrefixes(key: string, restoreKeys: string[]): string[] {
  const separated: string[] = [];
  for (let i = 0; i < key.length - 1; i++) {
    if (SEPARATORS.has(key[i])) separated.push(key.slice(0, i + 1));
  }
  const bounded =
    separated.length <= MAX_SEPARATOR_PREFIXES
      ? separated
      : [
          ...separated.slice(0, SHORTEST_KEPT),
          ...separated.slice(separated.length - (MAX_SEPARATOR_PREFIXES - SHORTEST_KEPT)),
        ];
  const explicit = restoreKeys.filter((prefix) => prefix !== key && key.startsWith(prefix));
  return [...new Set([...explicit, ...bounded])].filter(
    (prefix) => Buffer.byteLength(`k-${encodeRefComponent(prefix)}`) <= MAX_REF_COMPONENT_BYTES,
  );
}

/** A local key ref as localKeysWithPrefix lists it. */
export interface LocalKey {
  key: string;
  ref: string;
}

/**
 * The local key refs whose key starts with `prefix`, most recently used first (ref mtimes:
 * a restore touches its ref, so this is not the order of the saves; see restore.ts).
 */
export async function localKeysWithPrefix(refs: RefStore, prefix: string): Promise<LocalKey[]> {
  const found: LocalKey[] = [];
  for (const info of await refs.list('keys/**')) {
    if (!info.name.startsWith('keys/k-')) continue;
    const key = decodeURIComponent(info.name.slice('keys/k-'.length));
    if (key.startsWith(prefix)) found.push({ key, ref: info.name });
  }
  return found;
}
