/**
 * A stand-in for the actions/cache action's two steps, for bench/hosted.ts: what its
 * restoreImpl and saveImpl do with @actions/cache (the devDependency, the library the action
 * bundles), run by __tests__/helpers/runner.ts as the runner runs a step (INPUT_*, GITHUB_STATE,
 * STATE_*). `restore` (main): restoreCache(path, key, restore-keys), remembering the primary
 * and the matched key as state; `save` (post): skipped on an exact hit of the primary key, else
 * saveCache(path, key). Each ends with process.exit(0) as the action does (so that idle
 * keep-alive sockets do not hold the step open). Only erasable TypeScript: Node 24 runs it
 * without flags.
 */
import * as cache from '@actions/cache';
import * as core from '@actions/core';

/** actions/cache's getInputAsArray: one entry per line, trimmed, empty lines dropped. */
function inputAsArray(name: string, required = false): string[] {
  return core
    .getInput(name, { required })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** actions/cache's isExactKeyMatch. */
function exactMatch(key: string, cacheKey: string | undefined): boolean {
  return !!cacheKey && cacheKey.localeCompare(key, undefined, { sensitivity: 'accent' }) === 0;
}

async function restore(): Promise<void> {
  const primaryKey = core.getInput('key', { required: true });
  core.saveState('CACHE_KEY', primaryKey);
  const restoreKeys = inputAsArray('restore-keys');
  const paths = inputAsArray('path', true);
  const cacheKey = await cache.restoreCache(paths, primaryKey, restoreKeys, { lookupOnly: false }, false);
  if (!cacheKey) {
    core.setOutput('cache-hit', 'false');
    core.info(`Cache not found for input keys: ${[primaryKey, ...restoreKeys].join(', ')}`);
    return;
  }
  core.saveState('CACHE_RESULT', cacheKey);
  const hit = exactMatch(primaryKey, cacheKey);
  core.setOutput('cache-hit', String(hit));
  core.setOutput('cache-matched-key', cacheKey);
  core.info(`Cache restored from key: ${cacheKey}`);
}

async function save(): Promise<void> {
  const primaryKey = core.getState('CACHE_KEY') || core.getInput('key');
  const restoredKey = core.getState('CACHE_RESULT');
  if (exactMatch(primaryKey, restoredKey)) {
    core.info(`Cache hit occurred on the primary key ${primaryKey}, not saving cache.`);
    return;
  }
  const id = await cache.saveCache(inputAsArray('path', true), primaryKey, {}, false);
  if (id === -1) throw new Error(`saveCache of ${primaryKey} saved nothing`);
  core.info(`Cache saved with key: ${primaryKey}`);
}

try {
  await (process.argv[2] === 'save' ? save() : restore());
} catch (err) {
  core.setFailed((err as Error).message);
  process.exit(1);
}
process.exit(0);
