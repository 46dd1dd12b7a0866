// Shared pieces of the fault-injection tests: inputs for the bundled action that use the test
// casd directly (no download), a check that a casd cache directory holds no partial object,
// and how to find the real casd behind the action's supervisor.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { startActionsCacheEmulator, type ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { casdBinary } from '../helpers/casd.js';
import { createRunnerJob, type ActionRun, type RunnerJob } from '../helpers/runner.js';

/** Jobs made by `newJob`, removed by `removeJobs`. */
const jobs: RunnerJob[] = [];

/** A fresh runner job, removed again by `removeJobs()`. */
export function newJob(): RunnerJob {
  const job = createRunnerJob();
  jobs.push(job);
  return job;
}

/** Removes every job made by `newJob`. */
export function removeJobs(): void {
  for (const job of jobs.splice(0)) job.remove();
}

/**
 * For the enclosing describe: an Actions cache emulator, handed to `started`, whose faults
 * are cleared after each test; after all, the jobs made by `newJob` are removed and it stops.
 */
export function useCacheEmulator(started: (cache: ActionsCacheEmulator) => void): void {
  let cache: ActionsCacheEmulator | undefined;
  beforeAll(async () => {
    cache = await startActionsCacheEmulator();
    started(cache);
  });
  afterEach(() => cache?.faults.clear());
  afterAll(async () => {
    removeJobs();
    await cache?.stop();
  });
}

/**
 * Inputs that run the test casd as it is, with a cache dir inside the job, no persistence.
 * save-refs always: these jobs have no jobs API to read their status from (an unknown status
 * would warn and keep existing keys, which is not what these tests are about).
 */
export function baseInputs(job: RunnerJob, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'casd-path': casdBinary(),
    'cache-dir': join(job.root, 'casd-cache'),
    'save-local-cache': 'false',
    'save-refs': 'always',
    quota: '1G',
    ...extra,
  };
}

/** Every object file under `<cacheDir>/cas/objects` hashes to its name; returns the count. */
export function expectNoPartialObjects(cacheDir: string): number {
  const objects = join(cacheDir, 'cas', 'objects');
  let count = 0;
  if (!existsSync(objects)) return 0;
  for (const prefix of readdirSync(objects)) {
    for (const rest of readdirSync(join(objects, prefix))) {
      const hash = createHash('sha256')
        .update(readFileSync(join(objects, prefix, rest)))
        .digest('hex');
      expect(hash, `object ${prefix}${rest} in ${cacheDir}`).toBe(`${prefix}${rest}`);
      count++;
    }
  }
  return count;
}

/** The pid of the real buildbox-casd started under the supervisor whose pid is `supervisor`. */
export function casdPidUnder(supervisor: number): number {
  const children = readFileSync(`/proc/${supervisor}/task/${supervisor}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  expect(children, `children of supervisor ${supervisor}`).toHaveLength(1);
  return children[0];
}

/** The daemon state the main step saved for post. */
export function savedDaemon(main: ActionRun): { pid: number; logPath: string; socket: string } {
  const state = JSON.parse(main.state['casd-main']) as {
    daemon: { pid: number; logPath: string; socket: string };
  };
  return state.daemon;
}

/** Messages of the workflow commands of one kind (`warning`, `error`, `notice`). */
export function messages(run: ActionRun, command: string): string[] {
  return run.commands.filter((c) => c.command === command).map((c) => c.message);
}

/** Whether a process exists (a zombie counts as gone). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
