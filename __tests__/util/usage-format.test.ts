import { describe, expect, it } from 'vitest';
import { emptyStats } from '../../src/action/report.js';
import { usageText } from '../../src/action/summary.js';
import { formatUsage } from '../../src/casd/usage.js';

describe('cache usage shown to people', () => {
  it('reads the same in the job summary and in casd-action usage', () => {
    for (const [usedBytes, quotaBytes] of [
      [2_999_000_000, 5_000_000_000],
      [4_990_000_000, 5_000_000_000],
      [1_500_000_000, 5_000_000_000],
      [0, 5_000_000_000],
    ]) {
      expect(usageText({ ...emptyStats(), usedBytes, quotaBytes })).toBe(
        formatUsage({ usedBytes, quotaBytes }),
      );
    }
  });

  it('rounds the percentage down, so a cache is never shown full before it is', () => {
    expect(usageText({ ...emptyStats(), usedBytes: 4_990_000_000, quotaBytes: 5_000_000_000 })).toBe(
      '5.0 GB / 5.0 GB (99%)',
    );
  });
});
