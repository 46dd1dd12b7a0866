import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer } from '../../src/cas/digest.js';
import { encodeRefComponent, refNameProblem, validateRefName } from '../../src/cas/store/ref-names.js';
import { RefStore } from '../../src/cas/store/refs.js';
import { CasError } from '../../src/errors.js';
import { Digest as DigestMessage } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';

// Refs are plain files of ours under cas/refs/heads: casd plays no part, so these tests use
// a bare directory laid out like a cache.
describe('RefStore', () => {
  let cacheDir: string;
  let refs: RefStore;
  let heads: string;
  const d1: Digest = digestOfBuffer(Buffer.from('tree one'));
  const d2: Digest = digestOfBuffer(Buffer.from('tree two'));

  beforeEach(() => {
    cacheDir = mkdtempSync(join(tmpdir(), 'refs-t-'));
    mkdirSync(join(cacheDir, 'cas', 'tmp'), { recursive: true });
    heads = join(cacheDir, 'cas', 'refs', 'heads');
    refs = new RefStore(cacheDir);
  });
  afterEach(() => rmSync(cacheDir, { recursive: true, force: true }));

  async function failure(p: Promise<unknown>): Promise<CasError> {
    const error = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CasError);
    return error as CasError;
  }

  it('sets and resolves a ref', async () => {
    await refs.set('main', d1);
    expect(await refs.resolve('main')).toEqual(d1);
    expect(await refs.has('main')).toBe(true);
  });

  it('stores a serialised Digest message, as BuildStream does', async () => {
    await refs.set('main', d1);
    const data = readFileSync(join(heads, 'main'));
    expect(DigestMessage.decode(data)).toEqual(d1);
  });

  it('replaces a ref atomically, leaving no temporary files', async () => {
    await refs.set('main', d1);
    await refs.set('main', d2);
    expect(await refs.resolve('main')).toEqual(d2);
    expect(readdirSync(join(cacheDir, 'cas', 'tmp'))).toEqual([]);
    expect(readdirSync(heads)).toEqual(['main']);
  });

  it('creates the refs directory when the first ref is set', async () => {
    expect(existsSync(heads)).toBe(false);
    await refs.set('first', d1);
    expect(existsSync(join(heads, 'first'))).toBe(true);
  });

  it('accepts names with slashes as nested paths', async () => {
    await refs.set('project/linux/key-1', d1);
    expect(existsSync(join(heads, 'project', 'linux', 'key-1'))).toBe(true);
    expect(await refs.resolve('project/linux/key-1')).toEqual(d1);
  });

  it('reports an unknown ref as ref-not-found, naming it', async () => {
    const error = await failure(refs.resolve('nope/never'));
    expect(error.reason).toBe('ref-not-found');
    expect(error.message).toBe(`ref "nope/never" does not exist in ${heads}`);
  });

  it('reports a prefix directory of other refs as not a ref', async () => {
    await refs.set('dir/leaf', d1);
    expect((await failure(refs.resolve('dir'))).reason).toBe('ref-not-found');
    expect(await refs.has('dir')).toBe(false);
  });

  it('reports a ref file that holds garbage as corrupt-data', async () => {
    mkdirSync(heads, { recursive: true });
    writeFileSync(join(heads, 'junk'), Buffer.from([0xff, 0x01]));
    const error = await failure(refs.resolve('junk'));
    expect(error.reason).toBe('corrupt-data');
    expect(error.message).toBe('ref "junk" does not hold a valid Digest message');
  });

  it('refuses a ref that clashes with an existing prefix', async () => {
    await refs.set('a', d1);
    const error = await failure(refs.set('a/b', d2));
    expect(error.reason).toBe('invalid-ref');
    expect(error.message).toContain('cannot set ref "a/b": it clashes with an existing ref');
    await refs.set('x/y', d1);
    expect((await failure(refs.set('x', d2))).message).toContain('cannot set ref "x": it clashes');
  });

  it('refuses to store a malformed digest, naming the ref', async () => {
    const error = await failure(refs.set('bad', { hash: 'zz', sizeBytes: 1 }));
    expect(error.reason).toBe('invalid-digest');
    expect(error.message).toContain('ref bad: hash "zz"');
  });

  it('touches a ref on resolve when asked, and by touch()', async () => {
    await refs.set('t', d1);
    const old = new Date('2001-01-01T00:00:00Z');
    utimesSync(join(heads, 't'), old, old);
    await refs.resolve('t');
    expect((await refs.list('t'))[0].mtimeMs).toBe(old.getTime());
    await refs.resolve('t', { touch: true });
    expect((await refs.list('t'))[0].mtimeMs).toBeGreaterThan(old.getTime());
    utimesSync(join(heads, 't'), old, old);
    await refs.touch('t');
    expect((await refs.list('t'))[0].mtimeMs).toBeGreaterThan(old.getTime());
  });

  it('reports touching an unknown ref as ref-not-found', async () => {
    const error = await failure(refs.touch('ghost'));
    expect(error.reason).toBe('ref-not-found');
    expect(error.message).toContain('ref "ghost" does not exist');
  });

  it('removes a ref and prunes the parent directories it leaves empty', async () => {
    await refs.set('p/q/r/one', d1);
    await refs.set('p/keep', d2);
    await refs.remove('p/q/r/one');
    expect(existsSync(join(heads, 'p', 'q'))).toBe(false);
    expect(existsSync(join(heads, 'p', 'keep'))).toBe(true);
    await refs.remove('p/keep');
    expect(existsSync(join(heads, 'p'))).toBe(false);
    expect(existsSync(heads)).toBe(true);
  });

  it('stops pruning at a directory that still holds refs', async () => {
    await refs.set('s/t/one', d1);
    await refs.set('s/t/two', d2);
    await refs.remove('s/t/one');
    expect(await refs.resolve('s/t/two')).toEqual(d2);
  });

  it('reports removing an unknown ref as ref-not-found', async () => {
    const error = await failure(refs.remove('never/set'));
    expect(error.reason).toBe('ref-not-found');
    expect(error.message).toContain('ref "never/set" does not exist');
  });

  it('lists refs newest first with their digests', async () => {
    await refs.set('old', d1);
    await refs.set('dir/new', d2);
    utimesSync(join(heads, 'old'), new Date(1_000_000), new Date(1_000_000));
    utimesSync(join(heads, 'dir', 'new'), new Date(2_000_000), new Date(2_000_000));
    expect(await refs.list()).toEqual([
      { name: 'dir/new', digest: d2, mtimeMs: 2_000_000 },
      { name: 'old', digest: d1, mtimeMs: 1_000_000 },
    ]);
  });

  it('lists nothing when no ref was ever set', async () => {
    expect(await refs.list()).toEqual([]);
  });

  it('filters the list with *, ** and ? globs on /-separated names', async () => {
    for (const name of ['app/linux/k1', 'app/linux/k2', 'app/mac/k1', 'app/k9', 'lib/linux/k1']) {
      await refs.set(name, d1);
    }
    const names = async (glob: string): Promise<string[]> =>
      (await refs.list(glob)).map((r) => r.name).sort();
    expect(await names('app/*/k1')).toEqual(['app/linux/k1', 'app/mac/k1']);
    expect(await names('app/*')).toEqual(['app/k9']);
    expect(await names('app/**')).toEqual(['app/k9', 'app/linux/k1', 'app/linux/k2', 'app/mac/k1']);
    expect(await names('**/k1')).toEqual(['app/linux/k1', 'app/mac/k1', 'lib/linux/k1']);
    expect(await names('app/**/k9')).toEqual(['app/k9']);
    expect(await names('app/linux/k?')).toEqual(['app/linux/k1', 'app/linux/k2']);
    expect(await names('app.linux')).toEqual([]);
  });

  describe('unsafe names', () => {
    const cases: [string, string][] = [
      ['', 'ref name "" is empty'],
      ['../escape', 'ref name "../escape" has a ".." path component'],
      ['a/../../b', 'ref name "a/../../b" has a ".." path component'],
      ['./a', 'ref name "./a" has a "." path component'],
      ['a//b', 'ref name "a//b" has an empty path component'],
      ['a/', 'ref name "a/" has an empty path component'],
      ['/etc/passwd', 'ref name "/etc/passwd" is absolute'],
      ['a\\b', 'ref name "a\\\\b" contains a backslash'],
      ['a\0b', 'ref name "a\\u0000b" contains a NUL character'],
      ['a\nb', 'ref name "a\\nb" contains a newline'],
      ['a b', 'ref name "a b" contains a space'],
      ['$(x)', 'ref name "$(x)" contains "$", "(" and ")"'],
      ['tab\there', 'ref name "tab\\there" contains a tab'],
      ['bell\u0007', 'ref name "bell\\u0007" contains the control character U+0007'],
      ['caf\u00e9/x;y', 'ref name "café/x;y" contains "é" and ";"'],
      ['a*b', 'ref name "a*b" contains "*"'],
    ];
    for (const [name, message] of cases) {
      it(`refuses ${JSON.stringify(name)} everywhere, writing nothing`, async () => {
        expect(() => validateRefName(name)).toThrow(message);
        for (const op of [
          () => refs.set(name, d1),
          () => refs.resolve(name),
          () => refs.remove(name),
          () => refs.touch(name),
          () => refs.has(name),
        ]) {
          const error = await failure(op());
          expect(error.reason).toBe('invalid-ref');
          expect(error.message).toContain(message);
        }
        expect(existsSync(join(cacheDir, 'escape'))).toBe(false);
        expect(existsSync(join(cacheDir, 'cas', 'refs', 'b'))).toBe(false);
      });
    }
  });

  it('names what a ref name may hold in every refusal', () => {
    expect(() => validateRefName('a b')).toThrow(
      'ref name "a b" contains a space; use letters, digits and ._@+=,:%- in /-separated components, like "project/branch/key"',
    );
  });

  it('accepts names made of letters, digits and ._@+=,:%- between slashes', async () => {
    for (const name of ['main', 'team/main@v1.2+build=3,os:linux', 'keys/k-a%20b', '-x_y/..z/.hidden']) {
      expect(refNameProblem(name), name).toBeUndefined();
      await refs.set(name, d1);
      expect(await refs.resolve(name)).toEqual(d1);
    }
  });

  it('encodes any text into one component the rule accepts, and back', () => {
    for (const text of ['$(x)', 'a b', 'line\none', "it's (1)!*~", '../..', 'a/b', 'café', '']) {
      const component = encodeRefComponent(text);
      expect(refNameProblem(`k-${component}`), component).toBeUndefined();
      expect(component).not.toContain('/');
      expect(decodeURIComponent(component)).toBe(text);
    }
  });
});
