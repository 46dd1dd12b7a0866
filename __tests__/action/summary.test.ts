import { describe, expect, it } from 'vitest';
import { emptyStats, hitRatio, type RunReport } from '../../src/action/report.js';
import { bar, renderSummary, usageText } from '../../src/action/summary.js';

function report(overrides: Partial<RunReport> = {}): RunReport {
  return {
    casdVersion: '1.4.30',
    remote: 'grpc://cache:9092',
    stats: {
      ...emptyStats(),
      usedBytes: 1.5e9,
      quotaBytes: 5e9,
      blobsNeeded: 200,
      blobsFetched: 50,
      phaseMs: { restore: 1200 },
    },
    cacheHit: false,
    refsRestored: ['toolchain'],
    refsMissing: [],
    refsPushed: [],
    refsCommitted: false,
    refsNote: 'the job failed and save-refs is on-success',
    warnings: [],
    ...overrides,
  };
}

describe('job summary', () => {
  it('shows usage as used / quota (pct%) with a bar', () => {
    const html = renderSummary(report());
    expect(html).toContain('1.5 GB / 5.0 GB (30%)');
    expect(html).toContain(bar(0.3));
  });

  it('says plainly whether refs were committed and why', () => {
    expect(renderSummary(report())).toContain('not committed — the job failed and save-refs is on-success');
    expect(
      renderSummary(report({ refsCommitted: true, refsNote: 'job succeeded', refsPushed: ['keys/k'] })),
    ).toContain('✅ committed');
  });

  it('lists the keys published and counts the restore-key pointers instead of listing them', () => {
    const html = renderSummary(
      report({ refsCommitted: true, refsNote: 'saved', refsPushed: ['keys/k-a-b-c'], pointersPushed: 2 }),
    );
    expect(html).toContain('(<code>keys/k-a-b-c</code>, 2 restore-key pointer(s))');
    expect(html).not.toContain('restore-keys/');
  });

  it('names the path patterns that matched nothing', () => {
    expect(renderSummary(report({ pathsUnmatched: ['generated', '~/<x>'] }))).toContain(
      '<b>Path:</b> matched nothing, so not saved: <code>generated</code>, <code>~/&lt;x&gt;</code>',
    );
  });

  it('computes the hit ratio from blobs already local', () => {
    expect(hitRatio(report().stats)).toBe(0.75);
    expect(renderSummary(report())).toContain('75.0%');
    expect(hitRatio(emptyStats())).toBeUndefined();
  });

  it('shows the change against the previous run on the same key', () => {
    const previous = {
      ...emptyStats(),
      usedBytes: 1e9,
      quotaBytes: 5e9,
      blobsNeeded: 200,
      blobsFetched: 100,
      phaseMs: { restore: 2200 },
    };
    const html = renderSummary(report({ previous }));
    expect(html).toContain('change vs previous run');
    expect(html).toContain('+25.0 pts');
    expect(html).toContain('−1.00 s');
  });

  it('escapes values and lists warnings', () => {
    const html = renderSummary(report({ warnings: ['remote <down>'], matchedKey: 'a&b' }));
    expect(html).toContain('remote &lt;down&gt;');
    expect(html).toContain('a&amp;b');
  });

  it('names each file written through a hard link and the object evicted for it', () => {
    const digest = `${'a'.repeat(64)}/26`;
    const html = renderSummary(report({ linkWrites: [{ paths: ['/ws/out/f.txt', '/ws/out/<g>'], digest }] }));
    expect(html).toContain(
      '<b>Written through a hard link (restore-links):</b> writes into restored files changed 1 cached object(s)',
    );
    expect(html).toContain(
      `<li><code>/ws/out/f.txt</code>, <code>/ws/out/&lt;g&gt;</code>: object <code>${digest}</code> evicted</li>`,
    );
    expect(renderSummary(report())).not.toContain('Written through a hard link');
  });

  it('reports usage as unknown or without quota', () => {
    expect(usageText(emptyStats())).toBe('unknown');
    expect(usageText({ ...emptyStats(), usedBytes: 2500 })).toBe('2.5 kB');
  });
});
