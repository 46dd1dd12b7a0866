import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import * as glob from '@actions/glob';
import { CasError } from '../errors.js';
import { type CachePath, type PathRoots, anchor, toCachePath } from '../cas/entries/paths.js';

// The `path` input as actions/cache reads it: one pattern a line, `~` for the home directory,
// relative patterns under the workspace, globs and `!` exclusions as @actions/glob matches
// them with implicitDescendants off (a matched directory is cached whole, so an exclusion only
// removes what a pattern matched at its own level, as in actions/cache). How matched paths
// are recorded, and checked when read back, is the library's (src/cas/entries/paths.ts).

/** This runner's roots: GITHUB_WORKSPACE (else the working directory) and the home directory. */
export function pathRoots(env: NodeJS.ProcessEnv = process.env): PathRoots {
  return { workspace: resolve(env.GITHUB_WORKSPACE || process.cwd()), home: resolve(homedir()) };
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
