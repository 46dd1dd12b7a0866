import { formatBytes, formatUsedOfQuota } from '../util/size.js';
import { hitRatio, peakPhase, type RunReport, type RunStats } from './report.js';

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/** `███████░░░` for a fraction in [0, 1]. */
export function bar(fraction: number, width = 20): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

/** `used / quota (pct%)`, `used`, or `unknown` (formatUsedOfQuota, as `casd-action usage`). */
export function usageText(stats: RunStats): string {
  if (stats.usedBytes === undefined) return 'unknown';
  return formatUsedOfQuota(stats.usedBytes, stats.quotaBytes);
}

function percent(value: number | undefined): string {
  return value === undefined ? '–' : `${(value * 100).toFixed(1)}%`;
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`;
}

/** `+12.0%`-style change of `now` against `before`, or empty when there is nothing to compare. */
function change(now: number | undefined, before: number | undefined, format: (v: number) => string): string {
  if (now === undefined || before === undefined) return '';
  const delta = now - before;
  if (delta === 0) return 'same';
  return `${delta > 0 ? '+' : '−'}${format(Math.abs(delta))}`;
}

function row(cells: string[], header = false): string {
  const tag = header ? 'th' : 'td';
  return `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
}

/** The steps' peak memory (each step is its own process) and the phase it was reached in. */
function peakRow(stats: RunStats, previous: RunStats | undefined): string[] {
  const peak = peakPhase(stats);
  if (!peak) return [];
  const before = previous ? peakPhase(previous)?.bytes : undefined;
  return [
    row([
      'Peak memory of a step',
      `${formatBytes(peak.bytes)} (${escape(peak.phase)})`,
      change(peak.bytes, before, formatBytes),
    ]),
  ];
}

/**
 * Renders the job summary as HTML (GitHub renders a subset of HTML in step summaries). Only
 * values from the report are shown; the report never holds a token.
 */
export function renderSummary(report: RunReport): string {
  const { stats, previous } = report;
  const parts: string[] = ['<h2>casd-action</h2>'];
  const engine = report.casdVersion
    ? `buildbox-casd ${escape(report.casdVersion)}`
    : 'buildbox-casd (not started)';
  parts.push(
    `<p><b>Engine:</b> ${engine}${report.remote ? ` · <b>Remote:</b> <code>${escape(report.remote)}</code>` : ' · local cache only'}</p>`,
  );

  const usage = usageText(stats);
  const fraction =
    stats.usedBytes !== undefined && stats.quotaBytes ? stats.usedBytes / stats.quotaBytes : undefined;
  parts.push(
    `<p><b>Quota usage:</b> <code>${usage}</code>${fraction !== undefined ? ` <code>${bar(fraction)}</code>` : ''}</p>`,
  );

  const restoredLine = report.matchedKey
    ? `${report.lookupOnly ? 'found' : 'restored'} key <code>${escape(report.matchedKey)}</code> (${report.cacheHit ? 'exact hit' : 'partial match'}${report.lookupOnly ? '; lookup-only: nothing restored' : ''})`
    : `no key ${report.lookupOnly ? 'found (lookup-only)' : 'restored'}`;
  parts.push(
    `<p><b>Restore:</b> ${restoredLine}; refs restored: ${report.refsRestored.length ? report.refsRestored.map((r) => `<code>${escape(r)}</code>`).join(', ') : 'none'}${report.refsMissing.length ? `; not found: ${report.refsMissing.map((r) => `<code>${escape(r)}</code>`).join(', ')}` : ''}</p>`,
  );
  const pushed = report.refsPushed.map((r) => `<code>${escape(r)}</code>`);
  if (report.pointersPushed) pushed.push(`${report.pointersPushed} restore-key pointer(s)`);
  parts.push(
    `<p><b>Refs:</b> ${report.refsCommitted ? '✅ committed' : '⏸️ not committed'} — ${escape(report.refsNote)}${pushed.length ? ` (${pushed.join(', ')})` : ''}</p>`,
  );
  if (report.pathsUnmatched?.length) {
    parts.push(
      `<p><b>Path:</b> matched nothing, so not saved: ${report.pathsUnmatched.map((p) => `<code>${escape(p)}</code>`).join(', ')}</p>`,
    );
  }

  if (report.actionsCacheReadOnly) {
    parts.push(
      `<p><b>Actions cache:</b> read-only for this run (${escape(report.actionsCacheReadOnly)}): restored from, nothing saved</p>`,
    );
  }

  const p = previous;
  const table = [
    row(['', 'this run', previous ? 'change vs previous run' : ''], true),
    row([
      'Hit ratio',
      percent(hitRatio(stats)),
      change(hitRatio(stats), p ? hitRatio(p) : undefined, (v) => `${(v * 100).toFixed(1)} pts`),
    ]),
    row([
      'Blobs needed / fetched',
      `${stats.blobsNeeded} / ${stats.blobsFetched}`,
      change(stats.blobsFetched, p?.blobsFetched, String),
    ]),
    row([
      'Bytes downloaded',
      formatBytes(stats.bytesFetched + stats.persistBytesDownloaded),
      change(
        stats.bytesFetched + stats.persistBytesDownloaded,
        p ? p.bytesFetched + p.persistBytesDownloaded : undefined,
        formatBytes,
      ),
    ]),
    row([
      'Blobs checked / missing on remote / uploaded',
      `${stats.blobsChecked} / ${stats.blobsMissing} / ${stats.blobsUploaded}` +
        (stats.blobsSkipped ? ` (${stats.blobsSkipped} more known present)` : ''),
      change(stats.blobsMissing, p?.blobsMissing, String),
    ]),
    row([
      'Bytes uploaded',
      formatBytes(stats.bytesUploaded + stats.persistBytesUploaded),
      change(
        stats.bytesUploaded + stats.persistBytesUploaded,
        p ? p.bytesUploaded + p.persistBytesUploaded : undefined,
        formatBytes,
      ),
    ]),
    row([
      'Quota headroom',
      stats.quotaBytes && stats.usedBytes !== undefined
        ? formatBytes(stats.quotaBytes - stats.usedBytes)
        : '–',
      p?.quotaBytes && p.usedBytes !== undefined && stats.quotaBytes && stats.usedBytes !== undefined
        ? change(stats.quotaBytes - stats.usedBytes, p.quotaBytes - p.usedBytes, formatBytes)
        : '',
    ]),
    ...peakRow(stats, p),
    ...Object.entries(stats.phaseMs).map(([phase, ms]) =>
      row([`Time: ${escape(phase)}`, seconds(ms), change(ms, p?.phaseMs[phase], (v) => seconds(v))]),
    ),
  ];
  parts.push(`<table>${table.join('')}</table>`);

  if (report.jobStatus)
    parts.push(`<p><b>Job status:</b> ${report.jobStatus.status} — ${escape(report.jobStatus.detail)}</p>`);
  if (report.daemonExit) {
    const d = report.daemonExit;
    const how = d.killed
      ? 'killed after the shutdown timeout'
      : d.diedEarly
        ? describeEarlyExit(d).replace(/^buildbox-casd /, '')
        : d.signal
          ? `ended by ${d.signal}`
          : d.exitCode === null
            ? 'stopped'
            : `exited with code ${d.exitCode}`;
    const bad =
      d.killed || d.diedEarly === true || d.signal !== null || (d.exitCode !== null && d.exitCode !== 0);
    parts.push(
      `<p><b>Daemon:</b> ${how}${d.logPath && bad ? `; log: <code>${escape(d.logPath)}</code>` : ''}</p>`,
    );
  }
  if (report.linkWrites?.length) {
    const items = report.linkWrites.map(
      (w) =>
        `<li>${w.paths.map((p) => `<code>${escape(p)}</code>`).join(', ')}: object <code>${escape(w.digest)}</code> evicted</li>`,
    );
    parts.push(
      `<p><b>Written through a hard link (restore-links):</b> writes into restored files changed ${report.linkWrites.length} cached object(s) they were linked to; each was evicted before anything was saved</p><ul>${items.join('')}</ul>`,
    );
  }
  if (report.warnings.length > 0) {
    parts.push(
      `<p><b>Warnings:</b></p><ul>${report.warnings.map((w) => `<li>${escape(w)}</li>`).join('')}</ul>`,
    );
  }
  return `${parts.join('\n')}\n`;
}

/**
 * One sentence for a daemon that was found dead when post came to stop it, e.g.
 * "buildbox-casd was killed by SIGKILL during the job".
 */
export function describeEarlyExit(exit: { exitCode: number | null; signal: string | null }): string {
  if (exit.signal) return `buildbox-casd was killed by ${exit.signal} during the job`;
  if (exit.exitCode === null) return 'buildbox-casd exited during the job (exit status unknown)';
  return `buildbox-casd exited with code ${exit.exitCode} during the job`;
}
