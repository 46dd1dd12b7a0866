import { describe, expect, it } from 'vitest';
import {
  type CachePath,
  absolutePath,
  checkRecordedPaths,
  toCachePath,
} from '../../../src/cas/entries/paths.js';
import { CasError } from '../../../src/errors.js';

describe('recording matched paths relative to the runner', () => {
  it('prefers the deeper root: a workspace under the home directory', () => {
    const roots = { workspace: '/home/runner/work/repo/repo', home: '/home/runner' };
    expect(toCachePath('/home/runner/work/repo/repo/out', roots)).toEqual({ base: 'workspace', path: 'out' });
    expect(toCachePath('/home/runner/.npm', roots)).toEqual({ base: 'home', path: '.npm' });
    expect(toCachePath('/home/runner', roots)).toEqual({ base: 'home', path: '.' });
    expect(toCachePath('/opt/tool', roots)).toEqual({ base: 'absolute', path: '/opt/tool' });
    expect(toCachePath('/home/runner/..cache', roots)).toEqual({ base: 'home', path: '..cache' });
    expect(absolutePath({ base: 'home', path: '.npm' }, { workspace: '/w', home: '/h' })).toBe('/h/.npm');
  });
});

describe('checking the paths an entry records before restoring them', () => {
  const roots = { workspace: '/w', home: '/h' };
  const refusal = (paths: CachePath[], patterns: string[]): string => {
    try {
      checkRecordedPaths(paths, patterns, roots);
    } catch (err) {
      expect(err).toBeInstanceOf(CasError);
      expect((err as CasError).reason).toBe('unsafe-tree');
      return (err as Error).message;
    }
    return 'accepted';
  };

  it('accepts what the patterns can match', () => {
    const paths: CachePath[] = [
      { base: 'home', path: '.npm' },
      { base: 'workspace', path: 'build/a/x.o' },
    ];
    expect(refusal(paths, ['~/.npm', 'build/**/*.o'])).toBe('accepted');
  });

  it('refuses a path outside what the patterns match, naming it', () => {
    expect(refusal([{ base: 'absolute', path: '/etc/cron.d' }], ['out'])).toBe(
      'cache entry path {"base":"absolute","path":"/etc/cron.d"} is outside what the path patterns match; nothing restored',
    );
    expect(refusal([{ base: 'workspace', path: 'outside' }], ['out'])).toContain(
      'is outside what the path patterns match',
    );
  });

  it('refuses a path that climbs out of its root or is not normalised', () => {
    for (const path of ['../x', '..', 'a/../../x', '/abs', '', 'a//b']) {
      expect(refusal([{ base: 'workspace', path }], ['**'])).toContain('is not a well-formed path');
    }
    expect(refusal([{ base: 'elsewhere' as 'home', path: 'x' }], ['**'])).toContain(
      'is not a well-formed path',
    );
  });

  it('refuses paths inside one another (a symlink entry could lead a later one astray)', () => {
    const paths: CachePath[] = [
      { base: 'workspace', path: 'out' },
      { base: 'workspace', path: 'out/link/passwd' },
    ];
    expect(refusal(paths, ['out/**'])).toContain('overlaps another path of the entry');
  });
});
