import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer, formatDigest } from '../../src/cas/digest.js';
import { assertSafeName, validateDirectory } from '../../src/cas/trees/names.js';
import { requiredBlobs, walkDirectories, walkTree } from '../../src/cas/trees/tree.js';
import { CasError } from '../../src/errors.js';
import { collect, handDirectory, startStore, type StoreFixture, writeTree } from './tree-fixtures.js';

describe('tree walks against a real casd', () => {
  let fx: StoreFixture;
  let root: Digest;
  const blob = (text: string): Digest => digestOfBuffer(Buffer.from(text));

  beforeAll(async () => {
    fx = await startStore();
    const src = writeTree(join(fx.scratch(), 'src'), {
      README: 'readme',
      'bin/tool': { content: '#!/bin/sh\n', mode: 0o755 },
      'bin/alias': { symlink: 'tool' },
      'src/main.c': 'int main;',
      'src/copy.c': 'int main;',
      'src/gen/out.c': 'generated',
      'build/obj.o': 'object',
      'build/cache/big': 'cached',
      empty: { dir: true },
    });
    root = await fx.store.importDirectory(src);
  });
  afterAll(async () => {
    await fx?.stop();
  });

  it('walks every entry with its path, kind, digest, executable bit and target', async () => {
    const entries = await collect(walkTree(fx.store, root));
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect([...byPath.keys()].sort()).toEqual(
      [
        'README',
        'bin',
        'bin/alias',
        'bin/tool',
        'build',
        'build/cache',
        'build/cache/big',
        'build/obj.o',
        'empty',
        'src',
        'src/copy.c',
        'src/gen',
        'src/gen/out.c',
        'src/main.c',
      ].sort(),
    );
    expect(byPath.get('bin/tool')).toEqual({
      path: 'bin/tool',
      kind: 'file',
      digest: blob('#!/bin/sh\n'),
      isExecutable: true,
    });
    expect(byPath.get('README')?.isExecutable).toBe(false);
    expect(byPath.get('bin/alias')).toEqual({ path: 'bin/alias', kind: 'symlink', target: 'tool' });
    expect(byPath.get('empty')?.kind).toBe('directory');
  });

  it('leaves excluded subdirectories out of a walk', async () => {
    const paths = (await collect(walkTree(fx.store, root, { excludeSubdirs: ['build', 'src/gen'] }))).map(
      (e) => e.path,
    );
    expect(paths.filter((p) => p.startsWith('build') || p.startsWith('src/gen'))).toEqual([]);
    expect(paths).toContain('src/main.c');
  });

  it('lists every Directory and file blob once, root first', async () => {
    const blobs = await collect(requiredBlobs(fx.store, root));
    expect(blobs[0]).toEqual(root);
    const hashes = blobs.map((d) => d.hash);
    expect(new Set(hashes).size).toBe(hashes.length);
    // 7 Directories (root, bin, build, build/cache, empty, src, src/gen) and 6 distinct
    // file contents ('int main;' appears twice).
    const directories = (await collect(walkDirectories(fx.store, root, { dedupe: true }))).length;
    expect(directories).toBe(7);
    expect(blobs).toHaveLength(7 + 6);
    for (const text of ['readme', '#!/bin/sh\n', 'int main;', 'generated', 'object', 'cached']) {
      expect(hashes).toContain(blob(text).hash);
    }
  });

  it('leaves excluded subdirectories out of the required blobs, at the top and deeper', async () => {
    const hashes = (
      await collect(requiredBlobs(fx.store, root, { excludeSubdirs: ['build', 'src/gen'] }))
    ).map((d) => d.hash);
    expect(hashes).not.toContain(blob('object').hash);
    expect(hashes).not.toContain(blob('cached').hash);
    expect(hashes).not.toContain(blob('generated').hash);
    expect(hashes).toContain(blob('int main;').hash);
    expect(hashes).toContain(root.hash);
  });

  it('lists a Directory shared by two paths once', async () => {
    const leaf = await fx.store.addObject({ buffer: Buffer.from('shared leaf') });
    const shared = await fx.store.putDirectory(handDirectory({ files: [{ name: 'f', digest: leaf }] }));
    const top = await fx.store.putDirectory(
      handDirectory({
        directories: [
          { name: 'one', digest: shared },
          { name: 'two', digest: shared },
        ],
      }),
    );
    expect(await collect(requiredBlobs(fx.store, top))).toEqual([top, shared, leaf]);
    expect((await collect(walkTree(fx.store, top))).map((e) => e.path)).toEqual([
      'one',
      'two',
      'one/f',
      'two/f',
    ]);
  });

  it('fails with blob-not-found naming a Directory missing from the store', async () => {
    const ghost = blob('no such directory');
    const top = await fx.store.putDirectory(
      handDirectory({ directories: [{ name: 'ghost', digest: ghost }] }),
    );
    await expect(collect(requiredBlobs(fx.store, top))).rejects.toThrow(
      `Directory ${formatDigest(ghost)} is not in the local cache`,
    );
  });

  describe('hostile Directories', () => {
    const leafDigest = digestOfBuffer(Buffer.from('x'));
    const cases: [string, Parameters<typeof handDirectory>[0], string][] = [
      [
        'a ".." name',
        { files: [{ name: '..', digest: leafDigest }] },
        'entry name ".." is a relative directory reference',
      ],
      [
        'a "." name',
        { directories: [{ name: '.', digest: leafDigest }] },
        'entry name "." is a relative directory reference',
      ],
      [
        'a name with a slash',
        { files: [{ name: 'a/b', digest: leafDigest }] },
        'entry name "a/b" contains "/"',
      ],
      ['an empty name', { symlinks: [{ name: '', target: 'x' }] }, 'entry name "" is empty'],
      [
        'a NUL in a name',
        { files: [{ name: 'a\0b', digest: leafDigest }] },
        'entry name "a\\u0000b" contains a NUL',
      ],
      [
        'a symlink beside a directory of the same name',
        { symlinks: [{ name: 'a', target: '/etc' }], directories: [{ name: 'a', digest: leafDigest }] },
        'entry name "a" appears more than once',
      ],
      [
        'a digest that is a path',
        { files: [{ name: 'f', digest: { hash: '../../../etc/passwd', sizeBytes: 1 } }] },
        'file "f": hash "../../../etc/passwd" is not 64 lowercase hexadecimal',
      ],
    ];
    for (const [what, parts, message] of cases) {
      it(`refuses ${what}, naming the Directory and the entry`, async () => {
        const digest = await fx.store.putDirectory(handDirectory(parts));
        const error = (await collect(requiredBlobs(fx.store, digest)).catch((e: unknown) => e)) as CasError;
        expect(error).toBeInstanceOf(CasError);
        expect(error.reason).toBe('unsafe-tree');
        expect(error.message).toContain(`directory ${formatDigest(digest)}: `);
        expect(error.message).toContain(message);
      });
    }

    it('refuses a hostile Directory deep in the tree, naming that Directory', async () => {
      const bad = await fx.store.putDirectory(handDirectory({ files: [{ name: '..', digest: leafDigest }] }));
      const top = await fx.store.putDirectory(handDirectory({ directories: [{ name: 'ok', digest: bad }] }));
      await expect(collect(walkTree(fx.store, top))).rejects.toThrow(
        `directory ${formatDigest(bad)}: entry name ".."`,
      );
    });

    it('checks names on their own', () => {
      expect(() => assertSafeName('fine.txt', 'here')).not.toThrow();
      expect(() => assertSafeName('..', 'here')).toThrow(
        'here: entry name ".." is a relative directory reference',
      );
    });

    it('accepts unsorted but unique names', () => {
      const dir = handDirectory({
        files: [
          { name: 'z', digest: leafDigest },
          { name: 'a', digest: leafDigest },
        ],
      });
      expect(() => validateDirectory(dir, leafDigest)).not.toThrow();
    });
  });
});
