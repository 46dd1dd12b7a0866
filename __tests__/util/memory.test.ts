import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NODE24 } from '../helpers/runner.js';

function run(mode: 'bounded' | 'default'): { youngMb: number; peakMb: number; kept: number } {
  const out = execFileSync(
    NODE24,
    [
      '--experimental-transform-types',
      '--no-warnings',
      '--import',
      join(import.meta.dirname, '..', 'casd', 'fixtures', 'ts-hooks.mjs'),
      join(import.meta.dirname, 'fixtures', 'heap-growth.ts'),
      mode,
    ],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim()) as { youngMb: number; peakMb: number; kept: number };
}

describe('boundHeapGrowth', () => {
  it('keeps the young generation at its starting size and lowers the peak of a large allocation', () => {
    const unbounded = run('default');
    const bounded = run('bounded');
    expect(bounded.kept).toBe(400_000);
    // Without the bound V8 grows the young generation to tens of MB on any runner-sized machine.
    expect(unbounded.youngMb).toBeGreaterThan(30);
    expect(bounded.youngMb).toBeLessThan(8);
    expect(bounded.peakMb).toBeLessThan(unbounded.peakMb - 20);
  });
});
