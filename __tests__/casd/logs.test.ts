import { readdirSync, utimesSync, writeFileSync, closeSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogFile, logDir, logExcerpt, tailLog } from '../../src/casd/index.js';
import { tempDir } from './support.js';

describe('daemon log files', () => {
  let tmp: ReturnType<typeof tempDir>;
  afterEach(() => tmp?.remove());

  it('names the log after the start time under cas/logs, safe for any filesystem', () => {
    tmp = tempDir();
    const log = createLogFile(tmp.dir, new Date('2024-05-01T12:30:45.123Z'));
    closeSync(log.fd);
    expect(log.path).toBe(join(tmp.dir, 'cas', 'logs', '2024-05-01T12-30-45.123Z.log'));
    expect(existsSync(log.path)).toBe(true);
  });

  it('gives two starts in the same millisecond distinct files', () => {
    tmp = tempDir();
    const time = new Date('2024-05-01T12:30:45.123Z');
    const first = createLogFile(tmp.dir, time);
    const second = createLogFile(tmp.dir, time);
    closeSync(first.fd);
    closeSync(second.fd);
    expect(second.path).not.toBe(first.path);
    expect(second.path.endsWith('2024-05-01T12-30-45.123Z-1.log')).toBe(true);
  });

  it('keeps at most 10 files, removing the oldest first', () => {
    tmp = tempDir();
    const dir = logDir(tmp.dir);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 12; i++) {
      const path = join(dir, `old-${String(i).padStart(2, '0')}.log`);
      writeFileSync(path, `old ${i}\n`);
      const when = new Date(Date.UTC(2020, 0, 1, 0, i));
      utimesSync(path, when, when);
    }
    const log = createLogFile(tmp.dir);
    closeSync(log.fd);
    const left = readdirSync(dir).sort();
    expect(left).toHaveLength(10);
    expect(left).toContain(log.path.slice(dir.length + 1));
    expect(left.filter((n) => n.startsWith('old-'))).toEqual(
      ['03', '04', '05', '06', '07', '08', '09', '10', '11'].map((n) => `old-${n}.log`),
    );
  });

  it('tails the last lines of a log and gives nothing for a missing one', () => {
    tmp = tempDir();
    const path = join(tmp.dir, 'x.log');
    writeFileSync(path, Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n');
    expect(tailLog(path, 3)).toBe('line 27\nline 28\nline 29');
    expect(tailLog(join(tmp.dir, 'missing.log'))).toBe('');
  });
});

describe('logExcerpt', () => {
  it('quotes an early error line before the tail of a long log', () => {
    const tmp = tempDir();
    try {
      const path = join(tmp.dir, 'x.log');
      const usage = Array.from({ length: 40 }, (_, i) => `   --flag-${i}   help text`);
      writeFileSync(path, ['parse error: option "nope" unknown', 'Usage: casd', ...usage].join('\n'));
      const excerpt = logExcerpt(path, 2);
      expect(excerpt).toBe(
        [
          'parse error: option "nope" unknown',
          '...',
          '   --flag-38   help text',
          '   --flag-39   help text',
        ].join('\n'),
      );
    } finally {
      tmp.remove();
    }
  });
});
