import { tmpdir } from 'node:os';

/**
 * The job's directory for temporary files: the runner's RUNNER_TEMP (emptied after each
 * job), else the OS temp directory.
 */
export function jobTempDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.RUNNER_TEMP || tmpdir();
}
