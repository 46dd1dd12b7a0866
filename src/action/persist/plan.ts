import { CasError } from '../../errors.js';
import { type PackPlan, type PackRef, packKey, planPacks } from './manifest.js';

/** Longest prefix accepted: cache keys are limited to 512 characters. */
export const MAX_PREFIX_LENGTH = 400;

/**
 * Checks a key prefix: non-empty, at most MAX_PREFIX_LENGTH characters, no comma (the cache
 * service joins keys with commas). Throws CasError('invalid-input') naming the prefix.
 */
export function validatePrefix(prefix: string): void {
  let problem: string | undefined;
  if (prefix === '') problem = 'is empty';
  else if (prefix.length > MAX_PREFIX_LENGTH)
    problem = `is ${prefix.length} characters long, at most ${MAX_PREFIX_LENGTH} are allowed`;
  else if (prefix.includes(',')) problem = 'contains a comma';
  if (problem)
    throw new CasError(
      'invalid-input',
      `cache key prefix ${JSON.stringify(prefix.slice(0, 80))} ${problem}; use something like "casd-Linux"`,
    );
}

/** Prefix shared by every index key of `prefix`: restore asks for the newest one. */
export function indexKeyPrefix(prefix: string): string {
  return `${prefix}-index-`;
}

/** A unique index key for one save. */
export function indexKey(prefix: string, runId: string, runAttempt: string, now = Date.now()): string {
  return `${indexKeyPrefix(prefix)}${runId}-${runAttempt}-${now}`;
}

export interface SaveLimits {
  maxPackBytes: number;
  /** Largest local pack file planned whole (see planSave's `localPacks`). */
  maxWholePackBytes?: number;
  maxPacks: number;
  maxDeadRatio: number;
  /** Largest total of packs carried inside the index entry (PackRef.inline). */
  maxInlineBytes: number;
  /**
   * Largest total of new packs the index entry holds to stay (PackRef.carrier); those beyond
   * it are entries of their own. Default 0: none.
   */
  maxCarriedBytes?: number;
}

export interface SavePlan {
  /** Packs to store as entries of their own (upload unless their key exists already). */
  write: PackPlan[];
  /** Packs to stage inside the new index entry: carried over from the base, and new ones. */
  inline: PackPlan[];
  /** New packs the new index entry holds to stay (their `carrier` is its key). */
  carried: PackPlan[];
  /** Packs the new index lists, in order (those of `write` that fail are dropped later). */
  packs: PackRef[];
  /** Everything is rewritten into fresh packs (generation rollover). */
  compact: boolean;
  /** Bytes listed by the base packs that are gone locally. */
  deadBytes: number;
}

/**
 * Decides what a save writes. `base` are the packs of the last index, with their hashes;
 * `local` the blobs present now (hash -> size). Normally only blobs no base pack holds go
 * into new packs, appended to the base list. When more than `maxDeadRatio` of the listed
 * bytes are gone locally (expired by casd), or the list would exceed `maxPacks`, the plan is
 * a rollover instead: fresh packs of everything present, listed alone. `localPacks` are the
 * blobs of each local pack file (a capture's, say): when the new blobs are more than one pack
 * holds, a pack file all of whose blobs are new becomes one pack whole (up to
 * maxWholePackBytes), so that the save links it instead of rewriting its bytes into two.
 * With `indexKey` (the new index's), the packs to write go inside that entry instead, up to
 * maxCarriedBytes (`carried`; see carryInIndex).
 */
export function planSave(
  prefix: string,
  base: readonly PackPlan[],
  local: ReadonlyMap<string, number>,
  limits: SaveLimits,
  localPacks: readonly (readonly string[])[] = [],
  indexKey = '',
): SavePlan {
  const plan = planEntries(prefix, base, local, limits, localPacks);
  return carryInIndex(plan, indexKey, limits.maxCarriedBytes ?? 0);
}

/**
 * Moves packs to write into the new index entry `indexKey` while their total stays within
 * `maxBytes`: one entry for a save instead of one per pack saves its requests (~0.25 s each
 * on GitHub) now and at each restore, and later indexes list the packs there (carrier).
 */
function carryInIndex(plan: SavePlan, indexKey: string, maxBytes: number): SavePlan {
  if (indexKey === '' || plan.write.length === 0) return plan;
  const carried: PackPlan[] = [];
  const write: PackPlan[] = [];
  let bytes = 0;
  for (const pack of plan.write) {
    if (bytes + pack.bytes <= maxBytes) {
      carried.push({ ...pack, inline: true, carrier: indexKey });
      bytes += pack.bytes;
    } else write.push(pack);
  }
  const byKey = new Map(carried.map((p) => [p.key, p]));
  const packs = plan.packs.map((ref) => (byKey.has(ref.key) ? toRef(byKey.get(ref.key)!) : ref));
  return { ...plan, write, carried, packs };
}

// planSave without carrying: which packs to write, to carry along inline, and to list.
function planEntries(
  prefix: string,
  base: readonly PackPlan[],
  local: ReadonlyMap<string, number>,
  limits: SaveLimits,
  localPacks: readonly (readonly string[])[],
): SavePlan {
  const covered = new Set<string>();
  let listedBytes = 0;
  let liveBytes = 0;
  for (const pack of base) {
    listedBytes += pack.bytes;
    for (const hash of pack.hashes) {
      if (covered.has(hash)) continue;
      covered.add(hash);
      liveBytes += local.get(hash) ?? 0;
    }
  }
  const deadBytes = Math.max(0, listedBytes - liveBytes);
  const fresh = new Map<string, number>();
  for (const [hash, size] of local) if (!covered.has(hash)) fresh.set(hash, size);
  const newPacks = planFresh(prefix, fresh, localPacks, limits);
  const compact =
    base.length > 0 &&
    (deadBytes > limits.maxDeadRatio * listedBytes || base.length + newPacks.length > limits.maxPacks);
  if (compact) {
    const all = planPacks(prefix, local, limits.maxPackBytes);
    if (sum(all) <= limits.maxInlineBytes) return inlined([], all, compact, deadBytes);
    return { write: all, inline: [], carried: [], packs: all.map(toRef), compact, deadBytes };
  }
  // Small packs travel in the index entry; each save carries the base's inline packs again,
  // until together they outgrow maxInlineBytes and become one pack of their own. Packs an
  // earlier index holds to stay (carrier) are listed as they are.
  const carried = base.filter((p) => p.inline && !p.carrier);
  const carriedWhole = carried.every((p) => p.hashes.every((hash) => local.has(hash)));
  const kept = base.filter((p) => !p.inline || p.carrier);
  if (carriedWhole && sum(carried) + sum(newPacks) <= limits.maxInlineBytes) {
    return inlined(kept, [...carried, ...newPacks], compact, deadBytes);
  }
  if (carried.length === 0) {
    return {
      write: newPacks,
      inline: [],
      carried: [],
      packs: [...base.map(toRef), ...newPacks.map(toRef)],
      compact,
      deadBytes,
    };
  }
  const merged = new Map(fresh);
  for (const pack of carried)
    for (const hash of pack.hashes) if (local.has(hash)) merged.set(hash, local.get(hash)!);
  const promoted = planPacks(prefix, merged, limits.maxPackBytes);
  return {
    write: promoted,
    inline: [],
    carried: [],
    packs: [...kept.map(toRef), ...promoted.map(toRef)],
    compact,
    deadBytes,
  };
}

/**
 * Packs for the new blobs `fresh`: planPacks, except that when they outgrow one pack, local
 * pack files made only of new blobs are planned whole first (see planSave).
 */
function planFresh(
  prefix: string,
  fresh: ReadonlyMap<string, number>,
  localPacks: readonly (readonly string[])[],
  limits: SaveLimits,
): PackPlan[] {
  let total = 0;
  for (const size of fresh.values()) total += size;
  if (total <= limits.maxPackBytes) return planPacks(prefix, fresh, limits.maxPackBytes);
  const rest = new Map(fresh);
  const whole: PackPlan[] = [];
  for (const held of localPacks) {
    if (held.length === 0 || !held.every((hash) => rest.has(hash))) continue;
    const bytes = held.reduce((sum, hash) => sum + (rest.get(hash) ?? 0), 0);
    if (bytes > (limits.maxWholePackBytes ?? Infinity)) continue;
    const hashes = [...held].sort();
    whole.push({ key: packKey(prefix, hashes), blobs: hashes.length, bytes, hashes });
    for (const hash of hashes) rest.delete(hash);
  }
  return [...whole, ...planPacks(prefix, rest, limits.maxPackBytes)];
}

/** A plan listing `kept` (entries of their own) and carrying `inline` in the index. */
function inlined(
  kept: readonly PackRef[],
  inline: PackPlan[],
  compact: boolean,
  deadBytes: number,
): SavePlan {
  const marked = inline.map((p) => ({ ...p, inline: true as const }));
  return {
    write: [],
    inline: marked,
    carried: [],
    packs: [...kept.map(toRef), ...marked.map(toRef)],
    compact,
    deadBytes,
  };
}

function sum(packs: readonly PackRef[]): number {
  return packs.reduce((n, p) => n + p.bytes, 0);
}

function toRef(pack: PackRef): PackRef {
  const ref: PackRef = { key: pack.key, blobs: pack.blobs, bytes: pack.bytes };
  if (pack.inline) ref.inline = true;
  if (pack.carrier) ref.carrier = pack.carrier;
  return ref;
}
