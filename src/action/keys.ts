import { encodeRefComponent } from '../cas/ref-names.js';
import type { RefStore } from '../cas/refs.js';

/**
 * actions/cache keys live as refs `keys/k-<key, percent-encoded>`: encoding keeps `/`, `..`,
 * spaces, `$(...)` and newlines in a key from shaping the ref path or breaking the ref-name
 * rule. Restore-key prefixes are published as `restore-keys/k-<prefix>` so that a remote,
 * which cannot list refs, still finds the newest tree saved under a prefix.
 */
export function keyRef(key: string): string {
  return `keys/k-${encodeRefComponent(key)}`;
}

export function restoreKeyRef(prefix: string): string {
  return `restore-keys/k-${encodeRefComponent(prefix)}`;
}

/** Ref of the stats record kept with each saved key (for the summary's trend). */
export function statsRef(key: string): string {
  return `stats/k-${encodeRefComponent(key)}`;
}

/** The newest local key ref whose key starts with `prefix`, as [key, ref name]. */
export async function newestLocalKeyWithPrefix(
  refs: RefStore,
  prefix: string,
): Promise<[string, string] | undefined> {
  for (const info of await refs.list('keys/**')) {
    if (!info.name.startsWith('keys/k-')) continue;
    const key = decodeURIComponent(info.name.slice('keys/k-'.length));
    if (key.startsWith(prefix)) return [key, info.name];
  }
  return undefined;
}
