import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'vitest';
import { checkJson, type Schema } from '../../src/cli/json.js';

/** The bundled CLI the tests drive, as users run it. */
export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'index.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment for the CLI: no CASD_ACTION_* from the outside, plain progress lines. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('CASD_ACTION_')) env[key] = value;
  return { ...env, CASD_ACTION_PROGRESS: 'plain', ...extra };
}

/** Runs `node dist/cli/index.js ...args` to completion. */
export function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run bundle\` first`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: cliEnv(env), cwd, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs the CLI and expects exit 0; returns the result. */
export async function cliOk(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await runCli(args, env);
  expect(result.code, `casd-action ${args.join(' ')} failed:\n${result.stderr}`).toBe(0);
  return result;
}

/** Runs the CLI with --json, expects exit 0 and a document that matches `schema`. */
export async function cliJson<T>(
  args: string[],
  schema: Schema,
  env: Record<string, string> = {},
): Promise<T> {
  const result = await cliOk([...args, '--json'], env);
  const document = JSON.parse(result.stdout) as unknown;
  expect(checkJson(document, schema)).toEqual([]);
  return document as T;
}

/** Expects a usage error: exit 2 and exactly one line on stderr containing `message`. */
export function expectUsageError(result: CliResult, message: string | RegExp): void {
  expect(result.code, `expected exit 2, stderr: ${result.stderr}`).toBe(2);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  if (typeof message === 'string') expect(lines[0]).toContain(message);
  else expect(lines[0]).toMatch(message);
}

/** A private temp directory removed by the returned function. */
export function tempDir(prefix = 'cli-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A `casd-action serve` running in the background, with its URL. */
export interface Served {
  url: string;
  process: ChildProcess;
  /** SIGTERM, then its exit code and stderr. */
  stop(): Promise<{ code: number | null; stderr: string }>;
}

/** Starts `casd-action serve` with `args` and waits for the URL it prints. */
export async function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    void exited.then((code) =>
      reject(new Error(`serve exited (${code}) before printing its URL:\n${stderr}`)),
    );
  });
  return {
    url,
    process: child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      return { code, stderr };
    },
  };
}
