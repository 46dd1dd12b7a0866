import { describe, expect, it } from 'vitest';
import { checkJson, SCHEMAS } from '../../src/cli/json.js';
import { Progress, progressMode } from '../../src/cli/progress.js';

describe('progress display', () => {
  it('chooses tty on a terminal, plain otherwise, and honours CASD_ACTION_PROGRESS', () => {
    expect(progressMode({}, true)).toBe('tty');
    expect(progressMode({}, false)).toBe('plain');
    expect(progressMode({ CASD_ACTION_PROGRESS: 'off' }, true)).toBe('off');
  });

  it('shows files, bytes and rate, and ends with one summary line', () => {
    const written: string[] = [];
    const progress = new Progress('pushing', { mode: 'plain', write: (t) => written.push(t) });
    progress.add(3, 2_500_000);
    expect(progress.line()).toMatch(/^pushing: 3 files, 2\.5 MB \(.+\/s\), \d+\.\d s$/);
    progress.done('pushed 3 files');
    expect(written).toEqual(['pushed 3 files\n']);
  });

  it('clears the redrawn line on a terminal before the summary', () => {
    const written: string[] = [];
    const progress = new Progress('x', { mode: 'tty', write: (t) => written.push(t) });
    progress.done('done');
    expect(written).toEqual(['\r\x1b[2K', 'done\n']);
  });

  it('prints nothing when off', () => {
    const written: string[] = [];
    new Progress('x', { mode: 'off', write: (t) => written.push(t) }).done('done');
    expect(written).toEqual([]);
  });
});

describe('JSON schema check', () => {
  it('accepts a conforming document', () => {
    expect(checkJson({ removed: ['a'] }, SCHEMAS.rm)).toEqual([]);
  });

  it('names missing, extra and mistyped fields', () => {
    expect(checkJson({ stopped: 'yes', pid: null, logPath: null, extra: 1 }, SCHEMAS.stop)).toEqual([
      '$.stopped: expected boolean, got "yes"',
      '$.exitCode: missing',
      '$.extra: not in the schema',
    ]);
  });

  it('checks array items and nested objects', () => {
    expect(checkJson({ refs: [{ name: 'a', digest: 1, mtime: 'x' }] }, SCHEMAS.refs)).toEqual([
      '$.refs[0].digest: expected string, got 1',
    ]);
  });
});
