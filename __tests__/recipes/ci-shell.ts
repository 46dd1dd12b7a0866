import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { parse } from 'yaml';

/** The repository root, whose README holds the recipes and whose dist/ is the command. */
export const REPO = join(import.meta.dirname, '..', '..');

/** Where the recipes clone the command from (what the test's git redirects). */
export const CLI_REPO_URL = 'https://github.com/casd-action/casd-action';

/**
 * The first ```yaml block of the README subsection `### heading`, parsed. Throws when the
 * subsection or its block is missing, naming the heading.
 */
export function readmeRecipe(heading: string): Record<string, unknown> {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n### ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no "### ${heading}" subsection`);
  const rest = readme.slice(start + 1);
  const next = rest.slice(1).search(/\n#{2,3} /);
  const section = next < 0 ? rest : rest.slice(0, next + 1);
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error(`README.md "### ${heading}" has no yaml code block`);
  return parse(block[1]) as Record<string, unknown>;
}

/** A string map from a YAML mapping (values as GitLab and Buildkite read them: strings). */
export function stringMap(value: unknown, what: string): Record<string, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`${what} is not a mapping`);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

/** The script lines of a GitLab keyword (`before_script`, ...): a list of strings, or none. */
export function scriptLines(job: Record<string, unknown>, keyword: string): string[] {
  const value = job[keyword];
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((line) => typeof line !== 'string'))
    throw new Error(`${keyword} is not a list of strings`);
  return value as string[];
}

/**
 * GitLab's expansion of `variables:`: `$NAME` and `${NAME}` take the other variable's value,
 * itself expanded (GitLab expands recursively), an undefined one expands to nothing, and `$$`
 * is a literal `$`. `predefined` are the runner's variables (CI_PROJECT_DIR, ...).
 */
export function expandGitLabVariables(
  defined: Record<string, string>,
  predefined: Record<string, string>,
): Record<string, string> {
  const done = new Map<string, string>();
  const expand = (name: string, seen: string[]): string => {
    if (done.has(name)) return done.get(name)!;
    if (!(name in defined)) return predefined[name] ?? '';
    if (seen.includes(name)) throw new Error(`circular variable reference: ${[...seen, name].join(' -> ')}`);
    const value = defined[name].replace(
      /\$\$|\$\{(\w+)\}|\$(\w+)/g,
      (match, braced?: string, bare?: string) =>
        match === '$$' ? '$' : expand((braced ?? bare)!, [...seen, name]),
    );
    done.set(name, value);
    return value;
  };
  return Object.fromEntries(Object.keys(defined).map((name) => [name, expand(name, [])]));
}

/**
 * Buildkite's upload-time interpolation of one string: `$NAME` and `${NAME}` from `env` (an
 * unknown name gives nothing), `$$` and `\$` a literal `$`. Throws on the `${NAME:-...}` forms,
 * which this emulation does not know, so a recipe that starts using them fails here first.
 */
export function interpolateBuildkite(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\\\$|\$\{([^}]*)\}|\$(\w+)/g, (match, braced?: string, bare?: string) => {
    if (match === '$$' || match === '\\$') return '$';
    const name = braced ?? bare!;
    if (!/^\w+$/.test(name)) throw new Error(`interpolation \${${name}} is not emulated by this test`);
    return env[name] ?? '';
  });
}

/**
 * The pipeline's top-level `env` after upload: each entry interpolated with `uploadEnv` and the
 * entries above it, `uploadEnv` taking precedence for interpolation (as buildkite/go-pipeline's
 * interpolateEnvBlock does).
 */
export function interpolateBuildkiteEnv(
  block: Record<string, string>,
  uploadEnv: Record<string, string>,
): Record<string, string> {
  const lookup = { ...uploadEnv };
  const result: Record<string, string> = {};
  for (const [name, raw] of Object.entries(block)) {
    const value = interpolateBuildkite(raw, lookup);
    result[name] = value;
    if (!(name in lookup)) lookup[name] = value;
  }
  return result;
}

/** `overrides` applied to `variables`; throws for a name the recipe does not define. */
export function override(
  variables: Record<string, string>,
  overrides: Record<string, string>,
): Record<string, string> {
  for (const name of Object.keys(overrides))
    if (!(name in variables)) throw new Error(`the recipe defines no variable ${name} to override`);
  return { ...variables, ...overrides };
}

/**
 * A PATH with only node's directory, /usr/bin and /bin (coreutils, tar, sha256sum, git, curl,
 * gcc, make), plus `extra`: nothing of buildbox or casd-action, which the recipe must install.
 */
export function cleanPath(extra: string[] = []): string {
  return [...new Set([...extra, dirname(process.execPath), '/usr/bin', '/bin'])].join(delimiter);
}

/** The tools the recipes' lines run, as the CI images have them. */
export const RECIPE_TOOLS = ['bash', 'git', 'curl', 'tar', 'gzip', 'sha256sum', 'make', 'gcc'];

/** Throws, naming them, when some of RECIPE_TOOLS are not on cleanPath(). */
export function requireRecipeTools(): void {
  const dirs = cleanPath().split(delimiter);
  const missing = RECIPE_TOOLS.filter((tool) => !dirs.some((dir) => existsSync(join(dir, tool))));
  if (missing.length > 0)
    throw new Error(
      `the CI recipe tests need ${missing.join(', ')} in /usr/bin or /bin (node:24-bookworm has them): ` +
        `apt-get install ${missing.join(' ')}`,
    );
}

/**
 * A git repository at `dir` holding this checkout's dist/cli and dist/bazel-bridge (what a
 * clone of the command uses), tagged v1 as the release is; returns its file:// URL.
 */
export function cliSourceRepo(dir: string): string {
  mkdirSync(join(dir, 'dist'), { recursive: true });
  for (const part of ['cli', 'bazel-bridge'])
    cpSync(join(REPO, 'dist', part), join(dir, 'dist', part), { recursive: true });
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false', ...args], {
      cwd: dir,
      stdio: 'pipe',
      env: {
        PATH: cleanPath(),
        HOME: dir,
        GIT_AUTHOR_NAME: 'test',
        GIT_AUTHOR_EMAIL: 'test@example.com',
        GIT_COMMITTER_NAME: 'test',
        GIT_COMMITTER_EMAIL: 'test@example.com',
      },
    });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'release');
  git('tag', 'v1');
  return `file://${dir}`;
}

/** A HOME whose git fetches CLI_REPO_URL from `repoUrl` (the one thing git here cannot reach). */
export function homeWithGitRedirect(home: string, repoUrl: string): string {
  mkdirSync(home, { recursive: true });
  writeFileSync(
    join(home, '.gitconfig'),
    `[url "${repoUrl}"]\n\tinsteadOf = ${CLI_REPO_URL}\n[advice]\n\tdetachedHead = false\n`,
  );
  return home;
}

/** A project whose `make` builds build/hello.o from hello.c (printing `greeting`) with $(CC). */
export function writeProject(dir: string, greeting = 'recipe'): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'hello.c'),
    `#include <stdio.h>\nint main(void) { puts("${greeting}"); return 0; }\n`,
  );
  writeFileSync(
    join(dir, 'Makefile'),
    'build/hello.o: hello.c\n\tmkdir -p build\n\t$(CC) -c hello.c -o build/hello.o\n',
  );
  return dir;
}

export interface ShellRun {
  code: number;
  output: string;
  /** Recipe line numbers (1-based) of which bash ran at least one command. */
  ran: Set<number>;
}

/**
 * Runs `lines` as one script with `bash ...shellOptions -c` in `cwd` with exactly `env`, and
 * records which lines ran: a first line added before the recipe's turns on xtrace to a file
 * of its own with the line number in PS4 (the recipe's lines are run unchanged).
 */
export function runScript(
  lines: string[],
  options: { shellOptions: string[]; env: Record<string, string>; cwd: string; traceFile: string },
): Promise<ShellRun> {
  // Why BASH_SOURCE: a sourced file (`. .casd/recc.env`) traces its own line numbers; bash
  // names the -c script "" and the functions it defines "environment".
  const prelude = `exec 9>>'${options.traceFile}'; BASH_XTRACEFD=9; PS4='+\${BASH_SOURCE[0]}:$LINENO: '; set -x`;
  const script = [prelude, ...lines].join('\n');
  return new Promise((resolve) => {
    execFile(
      'bash',
      [...options.shellOptions, '-c', script],
      { cwd: options.cwd, env: options.env, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const trace = existsSync(options.traceFile) ? readFileSync(options.traceFile, 'utf8') : '';
        const ran = new Set<number>();
        for (const match of trace.matchAll(/^\++(?:environment)?:(\d+): /gm)) ran.add(Number(match[1]) - 1);
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}`, ran });
      },
    );
  });
}

/** Line numbers (1-based) of `lines` that hold a command (not blank, not `fi`, `done`, ...). */
export function commandLines(lines: string[]): number[] {
  return lines.flatMap((line, i) => (/^\s*(fi|done|esac|then|else|do|\}|)\s*$/.test(line) ? [] : [i + 1]));
}

/** Running processes whose command line mentions `text` (a temp directory): `pid: cmdline`. */
export function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // the process exited while we looked
    }
  }
  return found;
}
