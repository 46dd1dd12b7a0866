import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CachePath,
  type PathRoots,
  absolutePath,
  checkRecordedPaths,
  resolvePatterns,
  toCachePath,
} from '../../src/action/cache-paths.js';
import { CasError } from '../../src/errors.js';

const scratch = mkdtempSync(join(tmpdir(), 'casd-cache-paths-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let runners = 0;
/** A runner's workspace and home (siblings, as on GitHub's runners), with `files` written. */
function runner(files: string[] = [], base = 'runner'): PathRoots {
  const root = join(scratch, `${base}-${runners++}`);
  const roots = { workspace: join(root, 'work', 'repo'), home: join(root, 'home') };
  for (const file of files) {
    const path = file.startsWith('~/') ? join(roots.home, file.slice(2)) : join(roots.workspace, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file);
  }
  mkdirSync(roots.workspace, { recursive: true });
  mkdirSync(roots.home, { recursive: true });
  return roots;
}

describe('resolving the path input as actions/cache does', () => {
  it('expands ~ to the home directory and records the path relative to it', async () => {
    const roots = runner(['~/.npm/_cacache/index']);
    const resolved = await resolvePatterns(['~/.npm'], roots);
    expect(resolved).toEqual({ paths: [{ base: 'home', path: '.npm' }], unmatched: [] });
  });

  it('resolves relative patterns against the workspace, not the working directory', async () => {
    const roots = runner(['out/a.txt']);
    expect(process.cwd()).not.toBe(roots.workspace);
    expect((await resolvePatterns(['out'], roots)).paths).toEqual([{ base: 'workspace', path: 'out' }]);
  });

  it('matches a glob to the files it names, and only those', async () => {
    const roots = runner(['build/a/x.o', 'build/b/c/y.o', 'build/b/z.c', 'src/w.o']);
    expect((await resolvePatterns(['build/**/*.o'], roots)).paths).toEqual([
      { base: 'workspace', path: 'build/a/x.o' },
      { base: 'workspace', path: 'build/b/c/y.o' },
    ]);
  });

  it('takes a matched directory whole: build/** is build, not each file again', async () => {
    const roots = runner(['build/a/x.o', 'build/b/z.c']);
    expect((await resolvePatterns(['build/**'], roots)).paths).toEqual([
      { base: 'workspace', path: 'build' },
    ]);
    expect((await resolvePatterns(['build', 'build/a'], roots)).paths).toEqual([
      { base: 'workspace', path: 'build' },
    ]);
  });

  it('leaves out what a ! pattern excludes at the level a pattern matched', async () => {
    const roots = runner(['cache/wanted/f', 'cache/unwanted/g', 'cache/also/h']);
    expect((await resolvePatterns(['cache/*', '!cache/unwanted'], roots)).paths).toEqual([
      { base: 'workspace', path: 'cache/also' },
      { base: 'workspace', path: 'cache/wanted' },
    ]);
  });

  it('names each include pattern that matches nothing, but not an exclusion', async () => {
    const roots = runner(['out/a.txt']);
    const resolved = await resolvePatterns(['out', 'missing', 'gen/**/*.h', '!out/nothing-here'], roots);
    expect(resolved.paths).toEqual([{ base: 'workspace', path: 'out' }]);
    expect(resolved.unmatched).toEqual(['missing', 'gen/**/*.h']);
    expect((await resolvePatterns(['missing'], roots)).unmatched).toEqual(['missing']);
  });

  it('folds .. in a pattern instead of refusing it, and records a path outside both roots as absolute', async () => {
    const roots = runner();
    const sibling = join(dirname(roots.workspace), 'sibling');
    mkdirSync(sibling, { recursive: true });
    expect((await resolvePatterns(['../sibling', './../sibling/'], roots)).paths).toEqual([
      { base: 'absolute', path: sibling },
    ]);
  });

  it('takes a workspace path with glob characters literally', async () => {
    const roots = runner(['out/a.txt'], 'we[ir]d*?');
    writeFileSync(join(dirname(roots.workspace), 'repo-out-decoy'), '');
    expect((await resolvePatterns(['out'], roots)).paths).toEqual([{ base: 'workspace', path: 'out' }]);
  });

  it('keeps a matched symlink as one path', async () => {
    const roots = runner(['real/a.txt']);
    symlinkSync('real', join(roots.workspace, 'link'));
    expect((await resolvePatterns(['link'], roots)).paths).toEqual([{ base: 'workspace', path: 'link' }]);
  });

  it('refuses a line with nothing after its !, naming the line', async () => {
    const error = (await resolvePatterns(['out', '!'], runner()).catch((e: unknown) => e)) as CasError;
    expect(error).toBeInstanceOf(CasError);
    expect(error.reason).toBe('invalid-input');
    expect(error.message).toBe('input "path": the line "!" has no pattern');
  });

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
