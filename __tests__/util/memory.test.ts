import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NODE24 } from '../helpers/runner.js';
import { type RunReport, emptyStats, peakPhase, timed } from '../../src/action/report.js';
import { renderSummary } from '../../src/action/summary.js';

function runFixture(fixture: string, flags: string[], args: string[]): unknown {
  const out = execFileSync(
    NODE24,
    [
      ...flags,
      '--experimental-transform-types',
      '--no-warnings',
      '--import',
      join(import.meta.dirname, '..', 'casd', 'fixtures', 'ts-hooks.mjs'),
      join(import.meta.dirname, 'fixtures', fixture),
      ...args,
    ],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim());
}

function run(mode: 'bounded' | 'default'): { youngMb: number; peakMb: number; kept: number } {
  return runFixture('heap-growth.ts', [], [mode]) as { youngMb: number; peakMb: number; kept: number };
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

describe('peak memory of a phase', () => {
  it('resetPeakRss starts a new peak: memory freed before it no longer counts', () => {
    const out = runFixture('peak-rss.ts', ['--expose-gc'], []) as {
      withBigMb: number;
      afterResetMb: number;
      reset: boolean;
    };
    expect(out.reset).toBe(true);
    expect(out.withBigMb).toBeGreaterThan(200);
    expect(out.afterResetMb).toBeLessThan(out.withBigMb - 150);
  });

  it("timed records each phase's peak, keeps the higher of a repeated phase, and the summary names it", async () => {
    const stats = emptyStats();
    await timed(stats, 'small', async () => undefined);
    let held: Buffer | undefined;
    await timed(stats, 'large', async () => {
      held = Buffer.alloc(150e6, 1);
    });
    await timed(stats, 'large', async () => undefined);
    const peaks = stats.phasePeakRss ?? {};
    expect(peaks.large).toBeGreaterThan(peaks.small + 100e6);
    expect(peakPhase(stats)).toEqual({ phase: 'large', bytes: peaks.large });
    expect(held?.length).toBe(150e6);
    const html = renderSummary({
      ...emptyReport(),
      stats,
      previous: { ...emptyStats(), phasePeakRss: { capture: peaks.large - 1e6 } },
    });
    expect(html).toMatch(
      /<td>Peak memory of a step<\/td><td>\d+(\.\d)? MB \(large\)<\/td><td>\+1\.0 MB<\/td>/,
    );
    expect(renderSummary(emptyReport())).not.toContain('Peak memory');
  });
});

function emptyReport(): RunReport {
  return {
    stats: emptyStats(),
    cacheHit: false,
    refsRestored: [],
    refsMissing: [],
    refsPushed: [],
    refsCommitted: false,
    refsNote: '',
    warnings: [],
  };
}
