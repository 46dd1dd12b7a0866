import * as core from '@actions/core';
import type { Inputs } from './constants.js';
import { type ActionConfig, parseInputs, SECRET_INPUTS } from './inputs.js';
import { isForkPullRequest } from './job-status.js';

/** Reads an input as the runner provides it; secrets are masked before anything is logged. */
export function readInput(name: Inputs): string {
  const value = core.getInput(name);
  if (SECRET_INPUTS.includes(name) && value.trim() !== '') core.setSecret(value.trim());
  return value;
}

/** Parses every input, masking secrets first. Both steps call it (post sees the inputs too). */
export function readConfig(): ActionConfig {
  for (const name of SECRET_INPUTS) readInput(name);
  return parseInputs(readInput);
}

/** Names this job in lock files: run, attempt, job and process. */
export function jobId(): string {
  const env = process.env;
  return `${env.GITHUB_RUN_ID ?? 'local'}-${env.GITHUB_RUN_ATTEMPT ?? '1'}-${env.GITHUB_JOB ?? 'job'}-${process.pid}`;
}

/** The Actions-cache key prefix of the persisted local cache: per OS and architecture. */
export function persistPrefix(): string {
  return `casd-action-${process.env.RUNNER_OS ?? process.platform}-${process.env.RUNNER_ARCH ?? process.arch}`;
}

/** Whether the post step may write to the remote: `push` input, read-only, fork PRs. */
export async function pushAllowed(config: ActionConfig): Promise<boolean> {
  if (!config.remote || config.readOnly || config.push === 'false') return false;
  if (config.push === 'true') return true;
  return !(await isForkPullRequest(process.env));
}
