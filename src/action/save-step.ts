import * as core from '@actions/core';
import { readInput } from './config.js';
import { Inputs } from './constants.js';
import { INPUT_DEFAULTS } from './defaults.js';
import { expandHome, parseInputs } from './inputs.js';
import { finishSession } from './post-step.js';
import { readSessionRecord } from './session-record.js';

/**
 * The inputs the save sub-action declares (save/action.yml). Each one it leaves empty is
 * taken from what the restore step was given, so `path` and `key` default to restore's (as
 * actions/cache/save documents with `cache-primary-key`).
 */
export const SAVE_INPUTS: readonly Inputs[] = [
  Inputs.Path,
  Inputs.Key,
  Inputs.CacheDir,
  Inputs.SaveRefs,
  Inputs.SaveLocalCache,
  Inputs.SaveTimeout,
  Inputs.FailOnCacheError,
  Inputs.GithubToken,
];

/**
 * The save sub-action: finds the session the restore sub-action left running (through the
 * cache directory, or `$CASD_ACTION_SESSION`), then does what the post step does: capture
 * `path`, push, publish `key`, stop the daemon, persist, write the summary.
 */
export async function saveStep(): Promise<void> {
  const cacheDir = expandHome(readInput(Inputs.CacheDir).trim() || INPUT_DEFAULTS[Inputs.CacheDir]);
  const record = await readSessionRecord(cacheDir);
  if (!record) {
    const message = `casd-action/save: no session of casd-action/restore was found for cache-dir ${cacheDir} (restore did not run in this job, or a save already ended it); nothing saved`;
    if (readInput(Inputs.FailOnCacheError).trim() === 'true') throw new Error(message);
    core.warning(message);
    return;
  }
  const own = new Set<Inputs>(SAVE_INPUTS);
  const read = (name: Inputs): string => {
    const given = own.has(name) ? readInput(name) : '';
    return given.trim() !== '' ? given : (record.inputs[name] ?? '');
  };
  await finishSession(record.state, parseInputs(read));
}
