import { CasError } from '../errors.js';

const DECIMAL: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1e3,
  KB: 1e3,
  M: 1e6,
  MB: 1e6,
  G: 1e9,
  GB: 1e9,
  T: 1e12,
  TB: 1e12,
};
const BINARY: Record<string, number> = { KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/** A size as given by a user: absolute bytes, or a percentage of something else. */
export type SizeSpec = { bytes: number } | { percent: number };

export const SIZE_FORMS =
  'a byte count with an optional suffix (K, M, G, T = powers of 1000; KiB, MiB, GiB, TiB = powers of 1024), e.g. 10G or 512MiB';

/**
 * Parses `10G`, `512MiB`, `1.5T`, `1048576` into bytes. Suffixes K/M/G/T are decimal, as in
 * buildbox-casd (`1G` = 10^9); KiB/MiB/GiB/TiB are binary. `what` names the setting in errors.
 */
export function parseBytes(text: string, what: string): number {
  return bytesOf(text, what, SIZE_FORMS);
}

function bytesOf(text: string, what: string, expected: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match?.[2].toUpperCase() ?? '';
  const factor = DECIMAL[unit] ?? BINARY[unit];
  if (!match || factor === undefined) {
    throw new CasError('invalid-input', `${what}: "${text}" is not a size; expected ${expected}`);
  }
  const bytes = Math.floor(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) {
    throw new CasError(
      'invalid-input',
      `${what}: "${text}" is too large; expected at most 2^53 - 1 bytes (about 9 PB)`,
    );
  }
  return bytes;
}

/** Parses a size that may also be `N%` (0 < N <= 100). */
export function parseSizeSpec(text: string, what: string): SizeSpec {
  const percent = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (percent) {
    const value = Number(percent[1]);
    if (value <= 0 || value > 100) {
      throw new CasError(
        'invalid-input',
        `${what}: "${text}" must be a percentage above 0% and at most 100%`,
      );
    }
    return { percent: value };
  }
  return { bytes: bytesOf(text, what, `${SIZE_FORMS}, or a percentage such as 75%`) };
}

/** Resolves a SizeSpec against the total that a percentage refers to. */
export function resolveSize(spec: SizeSpec, totalBytes: number): number {
  return 'bytes' in spec ? spec.bytes : Math.floor((totalBytes * spec.percent) / 100);
}

/** Human-readable size with one decimal place, decimal units as casd uses: `1.5 GB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  if (Math.abs(bytes) < 1000) return `${bytes} B`;
  let value = bytes;
  let unit = 0;
  // Compare the rounded value, so that 999,960 bytes reads `1.0 MB`, not `1000.0 kB`.
  while (Math.abs(Number(value.toFixed(1))) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Cache usage for people: `<used> / <quota> (<pct>%)`, or `<used>` without a quota (0 or
 * absent). Sizes as formatBytes; the percentage rounded down, so a cache never reads full
 * before it is. The job summary and `casd-action usage` both print it.
 */
export function formatUsedOfQuota(usedBytes: number, quotaBytes: number | undefined): string {
  if (!quotaBytes || quotaBytes <= 0) return formatBytes(usedBytes);
  const percent = Math.floor((usedBytes * 100) / quotaBytes);
  return `${formatBytes(usedBytes)} / ${formatBytes(quotaBytes)} (${percent}%)`;
}

/** Parses durations like `10m`, `30s`, `1h`, `500ms`, or a bare number of seconds, into ms. */
export function parseDurationMs(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!match) {
    throw new CasError(
      'invalid-input',
      `${what}: "${text}" is not a duration; expected a number with ms, s, m or h, e.g. 10m or 90s`,
    );
  }
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[
    (match[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm' | 'h'
  ];
  return Math.round(Number(match[1]) * factor);
}
