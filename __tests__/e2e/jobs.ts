// Jobs of a workflow on fresh runners, for the end-to-end tests of the actions/cache-style
// inputs: each job runs the bundled main step, its build step (only when main succeeded, as
// on the runner), then the post step (always, as `post-if: always()` makes it).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRunnerJob, runAction, type ActionRun, type RunnerJob } from '../helpers/runner.js';

export interface JobResult {
  main: ActionRun;
  post: ActionRun;
  job: RunnerJob;
  /** The job's local cache directory. */
  cacheDir: string;
}

export interface Jobs {
  /**
   * One job on a fresh runner: `inputs` over the common ones, `checkout` writing into the
   * workspace before the main step, `build` after a successful main step, `beforePost`
   * seeing the job just before post.
   */
  run(
    inputs: Record<string, string>,
    options?: {
      checkout?: (workspace: string) => void;
      build?: (workspace: string) => void;
      beforePost?: (main: ActionRun) => void;
    },
  ): Promise<JobResult>;
  /** Deletes every runner made so far. */
  remove(): void;
}

/** Runs jobs with `common(cacheDir)` inputs and `env()` environment. */
export function workflowJobs(
  common: (cacheDir: string) => Record<string, string>,
  env: () => Record<string, string>,
): Jobs {
  const runners: RunnerJob[] = [];
  return {
    async run(inputs, options = {}) {
      const job = createRunnerJob();
      runners.push(job);
      const cacheDir = join(job.root, 'casd-cache');
      options.checkout?.(job.workspace);
      const main = await runAction('main', { job, inputs: { ...common(cacheDir), ...inputs }, env: env() });
      if (main.exitCode === 0) options.build?.(job.workspace);
      options.beforePost?.(main);
      const post = await runAction('post', { after: main, env: env() });
      return { main, post, job, cacheDir };
    },
    remove() {
      for (const job of runners) job.remove();
    },
  };
}

/** The empty blob, which casd stores when it starts. */
const EMPTY_BLOB = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The hashes of the objects in a casd cache directory, but for the empty blob. */
export function localObjects(cacheDir: string): string[] {
  const objects = join(cacheDir, 'cas', 'objects');
  if (!existsSync(objects)) return [];
  return readdirSync(objects)
    .flatMap((prefix) => readdirSync(join(objects, prefix)).map((rest) => prefix + rest))
    .filter((hash) => hash !== EMPTY_BLOB);
}

/** The pid of the daemon the main step started (from its saved state). */
export function daemonPid(main: ActionRun): number {
  const state = JSON.parse(main.state['casd-main'] ?? '{}') as { daemon?: { pid: number } };
  if (!state.daemon) throw new Error(`the main step saved no daemon:\n${main.stdout}`);
  return state.daemon.pid;
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
