import { describe, expect, it } from 'vitest';
import { isCasError } from '../../src/errors.js';
import {
  SIZE_FORMS,
  formatBytes,
  parseBytes,
  parseDurationMs,
  parseSizeSpec,
  resolveSize,
} from '../../src/util/size.js';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('parseBytes', () => {
  it.each([
    ['0', 0],
    ['1048576', 1_048_576],
    ['100B', 100],
    ['10K', 10_000],
    ['10k', 10_000],
    ['10KB', 10_000],
    ['5M', 5_000_000],
    ['1G', 1_000_000_000],
    ['1gb', 1_000_000_000],
    ['1.5T', 1_500_000_000_000],
    ['2KiB', 2048],
    ['512MiB', 512 * 2 ** 20],
    ['512mib', 512 * 2 ** 20],
    ['1GiB', 2 ** 30],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['2TiB', 2 * 2 ** 40],
    [' 10 G ', 10_000_000_000],
    ['1.0009K', 1000],
  ])('reads %s as %d bytes (K/M/G/T decimal as in casd, KiB.. binary)', (text, bytes) => {
    expect(parseBytes(text, 'quota')).toBe(bytes);
  });

  it.each(['', 'G', '-1G', '10X', '10 GiBs', '1e9', '1,000', 'ten', '10%', '0x10'])(
    'rejects "%s", naming the setting and the accepted forms',
    (text) => {
      const err = thrown(() => parseBytes(text, 'quota'));
      expect(isCasError(err, 'invalid-input')).toBe(true);
      expect(err.message).toBe(`quota: "${text}" is not a size; expected ${SIZE_FORMS}`);
    },
  );

  it('rejects a size beyond 2^53 bytes with its own message', () => {
    expect(thrown(() => parseBytes('99999999T', 'quota')).message).toBe(
      'quota: "99999999T" is too large; expected at most 2^53 - 1 bytes (about 9 PB)',
    );
  });
});

describe('parseSizeSpec and resolveSize', () => {
  it('reads bytes and percentages', () => {
    expect(parseSizeSpec('5G', 'quota')).toEqual({ bytes: 5_000_000_000 });
    expect(parseSizeSpec('50%', 'quota-low')).toEqual({ percent: 50 });
    expect(parseSizeSpec(' 12.5 % ', 'quota-low')).toEqual({ percent: 12.5 });
    expect(parseSizeSpec('100%', 'quota')).toEqual({ percent: 100 });
  });

  it('resolves a percentage against the total, rounding down, and bytes as they are', () => {
    expect(resolveSize({ percent: 50 }, 1001)).toBe(500);
    expect(resolveSize({ percent: 100 }, 1001)).toBe(1001);
    expect(resolveSize({ bytes: 42 }, 1001)).toBe(42);
  });

  it.each(['0%', '101%', '150%'])('rejects the percentage "%s"', (text) => {
    const err = thrown(() => parseSizeSpec(text, 'quota-low'));
    expect(isCasError(err, 'invalid-input')).toBe(true);
    expect(err.message).toBe(`quota-low: "${text}" must be a percentage above 0% and at most 100%`);
  });

  it.each(['', 'lots', '-5%', '5%%', '5 %G'])('rejects "%s", listing sizes and percentages', (text) => {
    const err = thrown(() => parseSizeSpec(text, 'quota'));
    expect(err.message).toBe(
      `quota: "${text}" is not a size; expected ${SIZE_FORMS}, or a percentage such as 75%`,
    );
  });

  it('keeps the "too large" message for an oversized byte count', () => {
    expect(thrown(() => parseSizeSpec('99999999T', 'quota')).message).toContain('"99999999T" is too large');
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.0 kB'],
    [1536, '1.5 kB'],
    [999_949, '999.9 kB'],
    [999_960, '1.0 MB'],
    [1_500_000, '1.5 MB'],
    [5_000_000_000, '5.0 GB'],
    [2.5e12, '2.5 TB'],
    [3e15, '3.0 PB'],
    [4e18, '4000.0 PB'],
  ])('formats %d bytes as "%s" (one decimal, decimal units)', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['30', 30_000],
    ['1.5s', 1500],
    ['10m', 600_000],
    ['10M', 600_000],
    ['2h', 7_200_000],
    [' 5 m ', 300_000],
    ['0', 0],
  ])('reads %s as %d ms (bare numbers are seconds)', (text, ms) => {
    expect(parseDurationMs(text, 'save-timeout')).toBe(ms);
  });

  it.each(['', 'soon', '-1s', '10d', '1h30m', '5 minutes'])(
    'rejects "%s" with the accepted units',
    (text) => {
      const err = thrown(() => parseDurationMs(text, 'save-timeout'));
      expect(isCasError(err, 'invalid-input')).toBe(true);
      expect(err.message).toBe(
        `save-timeout: "${text}" is not a duration; expected a number with ms, s, m or h, e.g. 10m or 90s`,
      );
    },
  );
});
