import { homedir } from 'node:os';
import { dirname, isAbsolute, posix, relative, resolve } from 'node:path';
import * as glob from '@actions/glob';
import { CasError } from '../errors.js';

// The `path` input as actions/cache reads it: one pattern a line, `~` for the home directory,
// relative patterns under the workspace, globs and `!` exclusions as @actions/glob matches
// them with implicitDescendants off (a matched directory is cached whole, so an exclusion only
// removes what a pattern matched at its own level, as in actions/cache). What is recorded is
// each matched path relative to the workspace or the home directory (or absolute when under
// neither), so that a runner whose workspace or home lives elsewhere gets them in its own.

/** What a recorded path is relative to. */
export type PathBase = 'workspace' | 'home' | 'absolute';

/** One matched path of an entry: `path` is relative to `base` (`.` for the base itself). */
export interface CachePath {
  base: PathBase;
  path: string;
}

/** Where relative patterns and recorded paths are anchored on this runner. */
export interface PathRoots {
  workspace: string;
  home: string;
}

/** This runner's roots: GITHUB_WORKSPACE (else the working directory) and the home directory. */
export function pathRoots(env: NodeJS.ProcessEnv = process.env): PathRoots {
  return { workspace: resolve(env.GITHUB_WORKSPACE || process.cwd()), home: resolve(homedir()) };
}

/** `text` matched literally by @actions/glob (its `*`, `?` and `[` in brackets). */
function escapeGlob(text: string): string {
  return text.replace(/[*?[]/g, '[$&]');
}

interface AnchoredPattern {
  negate: boolean;
  /** Absolute, with `.` and `..` segments folded (@actions/glob refuses them). */
  pattern: string;
}

/** A pattern line made absolute against `roots` (see the top of this file). */
function anchor(line: string, roots: PathRoots): AnchoredPattern {
  const bangs = /^!*/.exec(line)![0].length;
  const body = line.slice(bangs).trim();
  let pattern: string;
  if (body === '') {
    throw new CasError('invalid-input', `input "path": the line ${JSON.stringify(line)} has no pattern`);
  }
  if (body === '~' || body.startsWith('~/')) pattern = escapeGlob(roots.home) + body.slice(1);
  else if (isAbsolute(body)) pattern = body;
  else pattern = `${escapeGlob(roots.workspace)}/${body}`;
  return { negate: bangs % 2 === 1, pattern: posix.normalize(pattern) };
}

/** The recorded form of absolute `path`: relative to the deepest of the roots holding it. */
export function toCachePath(path: string, roots: PathRoots): CachePath {
  const bases: [PathBase, string][] = [
    ['workspace', roots.workspace],
    ['home', roots.home],
  ];
  bases.sort((a, b) => b[1].length - a[1].length);
  for (const [base, root] of bases) {
    const rel = relative(root, path);
    if (rel === '') return { base, path: '.' };
    if (rel !== '..' && !rel.startsWith('../') && !isAbsolute(rel)) return { base, path: rel };
  }
  return { base: 'absolute', path };
}

/** Where recorded `entry` goes on this runner. */
export function absolutePath(entry: CachePath, roots: PathRoots): string {
  if (entry.base === 'workspace') return resolve(roots.workspace, entry.path);
  if (entry.base === 'home') return resolve(roots.home, entry.path);
  return entry.path;
}

function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

export interface ResolvedPatterns {
  /** What the patterns match, sorted, none inside another (a directory is taken whole). */
  paths: CachePath[];
  /** The include patterns (as written) that match nothing. */
  unmatched: string[];
}

async function matchesAnything(pattern: string): Promise<boolean> {
  const globber = await glob.create(pattern, { implicitDescendants: false });
  for await (const match of globber.globGenerator()) {
    if (match) return true;
  }
  return false;
}

/**
 * Resolves `patterns` (the `path` input's lines) on this runner, as actions/cache does.
 * Throws CasError('invalid-input') naming a line with no pattern or one @actions/glob refuses.
 */
export async function resolvePatterns(patterns: string[], roots: PathRoots): Promise<ResolvedPatterns> {
  const anchored = patterns.map((line) => ({ line, ...anchor(line, roots) }));
  const globber = await glob
    .create(anchored.map((a) => `${a.negate ? '!' : ''}${a.pattern}`).join('\n'), {
      implicitDescendants: false,
    })
    .catch((err: unknown) => {
      throw new CasError('invalid-input', `input "path": ${(err as Error).message}`, { cause: err });
    });
  const matched = (await globber.glob()).map((p) => resolve(p));
  // `build/**` matches `build` and everything in it: only `build` is kept (taken whole).
  const all = new Set(matched);
  const inAnother = (path: string): boolean => {
    for (let dir = dirname(path); dir !== path; path = dir, dir = dirname(dir)) {
      if (all.has(dir)) return true;
    }
    return false;
  };
  const outermost = [...all].filter((path) => !inAnother(path)).sort();
  const includes = anchored.filter((a) => !a.negate);
  const unmatched: string[] = [];
  if (outermost.length === 0) unmatched.push(...includes.map((a) => a.line));
  else if (includes.length > 1) {
    for (const a of includes) if (!(await matchesAnything(a.pattern))) unmatched.push(a.line);
  }
  return { paths: outermost.map((path) => toCachePath(path, roots)), unmatched };
}

/** The literal directory a pattern's matches all lie under (its segments before any glob). */
function searchRoot(pattern: string): string {
  const segments = pattern.split('/');
  const literal = segments.findIndex((s) => /[*?[]/.test(s));
  return literal === -1 ? pattern : segments.slice(0, literal).join('/') || '/';
}

/**
 * Checks recorded `paths` (read from a cache entry, so from anyone who could write one) before
 * anything is written: each well-formed, none inside another, and each under what one of this
 * job's include patterns can match. Throws CasError('unsafe-tree') naming the first that is not.
 */
export function checkRecordedPaths(paths: CachePath[], patterns: string[], roots: PathRoots): void {
  const roots_ = patterns
    .map((line) => anchor(line, roots))
    .filter((a) => !a.negate)
    .map((a) => searchRoot(a.pattern).replace(/\/$/, '') || '/');
  const targets: string[] = [];
  for (const entry of paths) {
    const { base, path } = entry;
    const wellFormed =
      typeof path === 'string' &&
      path !== '' &&
      posix.normalize(path) === path &&
      (base === 'absolute'
        ? isAbsolute(path)
        : (base === 'workspace' || base === 'home') &&
          !isAbsolute(path) &&
          path !== '..' &&
          !path.startsWith('../'));
    const target = wellFormed ? absolutePath(entry, roots) : '';
    const problem = !wellFormed
      ? 'is not a well-formed path'
      : !roots_.some((root) => isWithin(target, root))
        ? 'is outside what the path patterns match'
        : targets.some((t) => isWithin(target, t) || isWithin(t, target))
          ? 'overlaps another path of the entry'
          : undefined;
    if (problem) {
      throw new CasError(
        'unsafe-tree',
        `cache entry path ${JSON.stringify(entry)} ${problem}; nothing restored`,
      );
    }
    targets.push(target);
  }
}
