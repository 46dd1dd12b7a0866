import * as core from '@actions/core';
import { describeError, isCasError } from '../errors.js';
import { boundHeapGrowth } from '../util/memory.js';

/**
 * Runs a step body so that every failure ends as one clear `core.setFailed` line (never a
 * stack trace), with the stack kept for debug logs, and with V8's heap growth bounded
 * (boundHeapGrowth: a step's peak memory). Then exits: a call abandoned at its
 * deadline (a stalled remote) must not keep the step's process, and so the job, waiting.
 */
export async function runStep(body: () => Promise<void>): Promise<void> {
  boundHeapGrowth();
  try {
    await body();
  } catch (err) {
    if (!isCasError(err, 'invalid-input') && err instanceof Error && err.stack) core.debug(err.stack);
    core.setFailed(describeError(err));
  }
  process.exit();
}
