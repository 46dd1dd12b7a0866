import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BAD_INPUTS } from '../action/bad-inputs.js';
import { casdBinary } from '../helpers/casd.js';
import { createRunnerJob, runAction, type RunnerJob } from '../helpers/runner.js';

describe('the bundled main step with a malformed input', () => {
  const jobs: RunnerJob[] = [];
  afterAll(() => jobs.forEach((job) => job.remove()));

  it.each(BAD_INPUTS)(
    'fails on a bad %s, naming it, starting and deleting nothing',
    async (_input, values, words) => {
      const job = createRunnerJob();
      jobs.push(job);
      const cacheDir = join(job.root, 'cache');
      mkdirSync(cacheDir);
      writeFileSync(join(cacheDir, 'keep-me'), 'user data');
      const inputs: Record<string, string> = { 'cache-dir': cacheDir, 'save-local-cache': 'false' };
      if (!('casd-path' in values)) inputs['casd-path'] = casdBinary();
      const main = await runAction('main', {
        job,
        inputs: { ...inputs, ...(values as Record<string, string>) },
      });
      expect(main.exitCode).toBe(1);
      const error = main.commands.find((c) => c.command === 'error');
      for (const word of words) expect(error?.message).toContain(word);
      expect(main.stdout).not.toMatch(/^\s+at /m);
      expect(main.outputs.socket).toBeUndefined();
      expect(readdirSync(cacheDir)).toEqual(['keep-me']);
      expect(existsSync(join(job.runnerTemp, 'casd-action'))).toBe(false);
    },
  );
});
