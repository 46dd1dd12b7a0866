import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RefStore } from '../../src/cas/store/refs.js';
import { isCasError } from '../../src/errors.js';
import { runAction } from '../helpers/runner.js';
import { baseInputs, messages, newJob, removeJobs } from './support.js';

const DIGEST = { hash: 'a'.repeat(64), sizeBytes: 1 };

/** What every refusal says is accepted: the one rule of src/cas/ref-names.ts. */
const RULE = 'use letters, digits and ._@+=,:%- in /-separated components, like "project/branch/key"';

const ESCAPES = ['..', '../escape', 'a/../../escape', '/etc/passwd', 'a/./b', 'a//b', 'a\\..\\b', ''];

afterAll(removeJobs);

describe('ref names cannot escape refs/heads', () => {
  const root = mkdtempSync(join(tmpdir(), 'casd-refnames-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  for (const name of ESCAPES) {
    it(`the library refuses ${JSON.stringify(name)} for set, resolve, has and remove, naming it`, async () => {
      const cacheDir = join(root, 'cache');
      mkdirSync(join(cacheDir, 'cas', 'refs', 'heads'), { recursive: true });
      const refs = new RefStore(cacheDir);
      for (const call of [
        () => refs.set(name, DIGEST),
        () => refs.resolve(name),
        () => refs.has(name),
        () => refs.remove(name),
        () => refs.touch(name),
      ]) {
        const error = await call().then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(isCasError(error, 'invalid-ref'), String(error)).toBe(true);
        expect((error as Error).message).toContain(`ref name ${JSON.stringify(name)}`);
      }
      // Nothing was written anywhere: not in the cache dir, not beside it.
      expect(readdirSync(root)).toEqual(['cache']);
      expect(readdirSync(join(cacheDir, 'cas', 'refs', 'heads'))).toEqual([]);
    });
  }

  it('the action refuses a refs input that would escape, naming the input; nothing is started', async () => {
    for (const name of ['../escape', '/etc/passwd', 'a/../../b']) {
      const job = newJob();
      const inputs = baseInputs(job, { refs: `${name} -> dest` });
      const main = await runAction('main', { job, inputs });
      expect(main.exitCode).toBe(1);
      const [error] = messages(main, 'error');
      expect(error).toContain(`input "refs": ref name ${JSON.stringify(name)}`);
      expect(error).toContain(RULE);
      expect(main.outputs.socket).toBeUndefined();
      expect(existsSync(inputs['cache-dir'])).toBe(false);
      expect(existsSync(join(job.workspace, 'dest'))).toBe(false);
    }
  });

  it('the action refuses the names the CLI refuses, with the same message', async () => {
    const job = newJob();
    const inputs = baseInputs(job, { refs: 'ok/name\na b -> dest\n$(x)' });
    const main = await runAction('main', { job, inputs });
    expect(main.exitCode).toBe(1);
    const [error] = messages(main, 'error');
    expect(error).toContain(`input "refs": ref name "a b" contains a space; ${RULE}`);
    expect(error).toContain(`input "refs": ref name "$(x)" contains "$", "(" and ")"; ${RULE}`);
    expect(error).not.toContain('ok/name');
    expect(main.outputs.socket).toBeUndefined();
    expect(existsSync(inputs['cache-dir'])).toBe(false);
  });

  it('a key with spaces, "$(...)", quotes or a newline is a ref the one rule accepts', async () => {
    const { keyRef, localKeysWithPrefix, pointerRef, statsRef } = await import('../../src/action/keys.js');
    const { validateRefName } = await import('../../src/cas/store/ref-names.js');
    const dir = mkdtempSync(join(tmpdir(), 'casd-keyrefs-'));
    const refs = new RefStore(dir);
    try {
      for (const key of ['deps $(x) `y`', "it's (1)!*~", 'two\nlines', 'a b/c']) {
        for (const ref of [keyRef(key), pointerRef(key, [key]), statsRef(key)]) {
          expect(() => validateRefName(ref), ref).not.toThrow();
        }
        await refs.set(keyRef(key), DIGEST);
        expect(await localKeysWithPrefix(refs, key)).toEqual([{ key, ref: keyRef(key) }]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a key with ".." or "/" is encoded into one ref component', async () => {
    const { keyRef } = await import('../../src/action/keys.js');
    for (const key of ['../../etc', '/abs/key', '..']) {
      const ref = keyRef(key);
      expect(ref.split('/')).toHaveLength(2);
      expect(() => new RefStore(root).has(ref)).not.toThrow();
    }
  });
});
