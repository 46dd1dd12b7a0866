import { isAbsolute, posix, relative, resolve } from 'node:path';
import { CasError } from '../../errors.js';

// The paths of an actions/cache-style entry: each matched path recorded relative to the
// workspace or the home directory (or absolute when under neither), so that a runner whose
// workspace or home lives elsewhere gets them in its own. Patterns are the `path` input's
// lines: one a line, `~` for the home directory, relative ones under the workspace, globs and
// `!` exclusions (matching them on disk is the front end's: the action uses @actions/glob).

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

/** `text` matched literally by @actions/glob (its `*`, `?` and `[` in brackets). */
function escapeGlob(text: string): string {
  return text.replace(/[*?[]/g, '[$&]');
}

export interface AnchoredPattern {
  negate: boolean;
  /** Absolute, with `.` and `..` segments folded (@actions/glob refuses them). */
  pattern: string;
}

/**
 * A pattern line made absolute against `roots` (see the top of this file). Throws
 * CasError('invalid-input') naming a line with no pattern.
 */
export function anchor(line: string, roots: PathRoots): AnchoredPattern {
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
