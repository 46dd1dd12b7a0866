import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolvePatterns } from '../../src/action/cache-paths.js';
import type { PathRoots } from '../../src/cas/entries/paths.js';
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
});
