import type { RefStore } from '../cas/refs.js';

/**
 * actions/cache keys live as refs `keys/k-<key, URI-encoded>`: encoding keeps `/`, `..` and
 * spaces in a key from shaping the ref path. Restore-key prefixes are published as
 * `restore-keys/k-<prefix>` so that a remote, which cannot list refs, still finds the newest
 * tree saved under a prefix.
 */
export function keyRef(key: string): string {
  return `keys/k-${encodeURIComponent(key)}`;
}

export function restoreKeyRef(prefix: string): string {
  return `restore-keys/k-${encodeURIComponent(prefix)}`;
}

/** Ref of the stats record kept with each saved key (for the summary's trend). */
export function statsRef(key: string): string {
  return `stats/k-${encodeURIComponent(key)}`;
}

/** The newest local key ref whose key starts with `prefix`, as [key, ref name]. */
export async function newestLocalKeyWithPrefix(
  refs: RefStore,
  prefix: string,
): Promise<[string, string] | undefined> {
  for (const info of await refs.list('keys/**')) {
    const key = decodeURIComponent(info.name.slice('keys/k-'.length));
    if (info.name.startsWith('keys/k-') && key.startsWith(prefix)) return [key, info.name];
  }
  return undefined;
}
