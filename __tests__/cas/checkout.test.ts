import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout, stageTree } from '../../src/cas/trees/checkout.js';
import { type Digest, digestOfBuffer, formatDigest } from '../../src/cas/digest.js';
import { CasError } from '../../src/errors.js';
import { handDirectory, startStore, type StoreFixture, writeTree } from './tree-fixtures.js';

/** Everything observable about a tree on disk: kind, mode, content or target, per path. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const path = prefix ? `${prefix}/${name}` : name;
      const info = lstatSync(full);
      if (info.isSymbolicLink()) out[path] = `symlink -> ${readlinkSync(full)}`;
      else if (info.isDirectory()) {
        out[path] = 'dir';
        visit(full, path);
      } else out[path] = `file ${(info.mode & 0o777).toString(8)} ${readFileSync(full, 'utf8')}`;
    }
  };
  visit(root, '');
  return out;
}

describe('checkout against a real casd', () => {
  let fx: StoreFixture;
  let root: Digest;
  let src: string;

  beforeAll(async () => {
    fx = await startStore();
    src = writeTree(join(fx.scratch(), 'src'), {
      'README.md': 'read me',
      'bin/run': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      'bin/rel-link': { symlink: 'run' },
      'etc-link': { symlink: '/etc' },
      'deep/er/est/file.txt': 'deep file',
      'empty-dir': { dir: true },
      'deep/empty': { dir: true },
    });
    root = await fx.store.importDirectory(src);
  });
  afterAll(async () => {
    await fx?.stop();
  });

  async function failure(p: Promise<unknown>): Promise<CasError> {
    const error = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CasError);
    return error as CasError;
  }

  it('copies an imported tree back identically: contents, modes, symlinks, empty directories', async () => {
    const dest = join(fx.scratch(), 'out');
    const result = await checkout(fx.store, root, dest);
    expect(snapshot(dest)).toEqual(snapshot(src));
    expect(snapshot(dest)['bin/run']).toBe('file 755 #!/bin/sh\necho hi\n');
    expect(snapshot(dest)['README.md']).toBe('file 644 read me');
    expect(result).toEqual({ files: 3, linked: 0, directories: 6, symlinks: 2 });
  });

  it('reports every Directory with its path, each before the ones inside it', async () => {
    const dest = join(fx.scratch(), 'out');
    const seen: string[] = [];
    await checkout(fx.store, root, dest, {
      onDirectory: ({ path, digest }) => {
        expect(digest.sizeBytes).toBeGreaterThanOrEqual(0);
        seen.push(path);
      },
    });
    expect([...seen].sort()).toEqual([
      '',
      'bin',
      'deep',
      'deep/empty',
      'deep/er',
      'deep/er/est',
      'empty-dir',
    ]);
    for (const path of seen.filter((p) => p !== '')) {
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      expect(seen.indexOf(parent)).toBeLessThan(seen.indexOf(path));
    }
  });

  it('reports each file written with its size, for progress lines', async () => {
    const sizes: number[] = [];
    const result = await checkout(fx.store, root, join(fx.scratch(), 'out'), {
      onFile: (bytes) => sizes.push(bytes),
    });
    expect(sizes).toHaveLength(result.files);
    expect(sizes.sort((a, b) => a - b)).toEqual(
      Object.values(snapshot(src))
        .filter((entry) => entry.startsWith('file '))
        .map((entry) => Buffer.byteLength(entry.slice('file 644 '.length)))
        .sort((a, b) => a - b),
    );
  });

  it('copies files so that changing them leaves the store intact', async () => {
    const dest = join(fx.scratch(), 'out');
    await checkout(fx.store, root, dest);
    writeFileSync(join(dest, 'README.md'), 'changed');
    expect(await fx.store.containsDirectory(root)).toBe(true);
    expect(readFileSync(fx.store.objectPath(digestOfBuffer(Buffer.from('read me'))), 'utf8')).toBe('read me');
  });

  it('creates symlinks as symlinks, absolute targets included, without following them', async () => {
    const dest = join(fx.scratch(), 'out');
    await checkout(fx.store, root, dest);
    expect(lstatSync(join(dest, 'etc-link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dest, 'etc-link'))).toBe('/etc');
    expect(readlinkSync(join(dest, 'bin', 'rel-link'))).toBe('run');
  });

  it('hard-links non-executable files from the store (read-only) and copies executables', async () => {
    const dest = join(fx.scratch(), 'out');
    const result = await checkout(fx.store, root, dest, { link: true });
    const readme = statSync(join(dest, 'README.md'));
    const object = statSync(fx.store.objectPath(digestOfBuffer(Buffer.from('read me'))));
    expect(readme.ino).toBe(object.ino);
    expect(readme.mode & 0o777).toBe(0o444);
    const run = statSync(join(dest, 'bin', 'run'));
    expect(run.ino).not.toBe(
      statSync(fx.store.objectPath(digestOfBuffer(Buffer.from('#!/bin/sh\necho hi\n')))).ino,
    );
    expect(run.mode & 0o777).toBe(0o755);
    expect(result).toMatchObject({ files: 3, linked: 2 });
    expect(readFileSync(join(dest, 'deep', 'er', 'est', 'file.txt'), 'utf8')).toBe('deep file');
  });

  it('checks out into an existing empty directory', async () => {
    const dest = fx.scratch();
    await checkout(fx.store, root, dest);
    expect(readFileSync(join(dest, 'README.md'), 'utf8')).toBe('read me');
  });

  it('refuses a non-empty destination, naming it', async () => {
    const dest = fx.scratch();
    writeFileSync(join(dest, 'precious'), 'keep');
    const error = await failure(checkout(fx.store, root, dest));
    expect(error.reason).toBe('invalid-input');
    expect(error.message).toBe(`checkout destination ${dest} is not empty; give an empty or new directory`);
    expect(readdirSync(dest)).toEqual(['precious']);
  });

  it('refuses to write through a destination that is a symlink', async () => {
    const scratch = fx.scratch();
    const target = join(scratch, 'target');
    mkdirSync(target);
    const dest = join(scratch, 'link');
    symlinkSync(target, dest);
    const error = await failure(checkout(fx.store, root, dest));
    expect(error.message).toBe(`checkout destination ${dest} is a symlink; refusing to write through it`);
    expect(readdirSync(target)).toEqual([]);
  });

  it('refuses a destination that is a file', async () => {
    const dest = join(fx.scratch(), 'file');
    writeFileSync(dest, 'x');
    const error = await failure(checkout(fx.store, root, dest));
    expect(error.message).toBe(`checkout destination ${dest} exists and is not a directory`);
  });

  it('counts missing file blobs and writes nothing', async () => {
    const present = await fx.store.addObject({ buffer: Buffer.from('present') });
    const gone1 = digestOfBuffer(Buffer.from('gone one'));
    const gone2 = digestOfBuffer(Buffer.from('gone two'));
    const sub = await fx.store.putDirectory(handDirectory({ files: [{ name: 'g2', digest: gone2 }] }));
    const top = await fx.store.putDirectory(
      handDirectory({
        files: [
          { name: 'g1', digest: gone1 },
          { name: 'p', digest: present },
        ],
        directories: [{ name: 'sub', digest: sub }],
      }),
    );
    const dest = join(fx.scratch(), 'out');
    const error = await failure(checkout(fx.store, top, dest));
    expect(error.reason).toBe('blob-not-found');
    expect(error.message).toContain(`cannot check out tree ${formatDigest(top)}: 2 file blob(s) are missing`);
    expect(existsSync(dest)).toBe(false);
  });

  describe('hostile trees', () => {
    const hostile: [string, () => Promise<Digest>, string][] = [];
    const leaf = (): Promise<Digest> => fx.store.addObject({ buffer: Buffer.from('payload') });
    hostile.push(
      [
        'a ".." file',
        async () => fx.store.putDirectory(handDirectory({ files: [{ name: '..', digest: await leaf() }] })),
        '".."',
      ],
      [
        'a "." directory',
        async () =>
          fx.store.putDirectory(handDirectory({ directories: [{ name: '.', digest: await emptyDir() }] })),
        '"."',
      ],
      [
        'an "a/b" file',
        async () => fx.store.putDirectory(handDirectory({ files: [{ name: 'a/b', digest: await leaf() }] })),
        '"a/b"',
      ],
      [
        'an empty name',
        async () => fx.store.putDirectory(handDirectory({ files: [{ name: '', digest: await leaf() }] })),
        '""',
      ],
      [
        'a symlink "a" -> /etc beside a directory "a"',
        async () => {
          const inner = await fx.store.putDirectory(
            handDirectory({ files: [{ name: 'passwd', digest: await leaf() }] }),
          );
          return fx.store.putDirectory(
            handDirectory({
              symlinks: [{ name: 'a', target: '/etc' }],
              directories: [{ name: 'a', digest: inner }],
            }),
          );
        },
        '"a" appears more than once',
      ],
    );
    async function emptyDir(): Promise<Digest> {
      return fx.store.putDirectory(handDirectory({}));
    }

    for (const [what, build, named] of hostile) {
      it(`refuses a tree with ${what} deep inside, writing nothing at all`, async () => {
        const bad = await build();
        // Safe entries come first in walk order, so a checkout that validated lazily would
        // already have written them.
        const top = await fx.store.putDirectory(
          handDirectory({
            files: [{ name: 'first.txt', digest: await leaf() }],
            directories: [{ name: 'nested', digest: bad }],
          }),
        );
        const parent = fx.scratch();
        const dest = join(parent, 'out');
        const error = await failure(checkout(fx.store, top, dest, { link: true }));
        expect(error.reason).toBe('unsafe-tree');
        expect(error.message).toContain(`directory ${formatDigest(bad)}: entry name ${named}`);
        expect(readdirSync(parent)).toEqual([]);
        const existing = mkdirSync(dest, { recursive: true });
        expect(existing).toBe(dest);
        await expect(checkout(fx.store, top, dest)).rejects.toThrow(named);
        expect(readdirSync(dest)).toEqual([]);
        rmSync(dest, { recursive: true });
      });
    }
  });

  describe('staging through casd', () => {
    it('stages a tree where asked and removes it on unstage', async () => {
      const dest = join(fx.scratch(), 'staged');
      const staged = await stageTree(fx.connection, root, dest);
      expect(staged.path).toBe(dest);
      expect(readFileSync(join(dest, 'README.md'), 'utf8')).toBe('read me');
      expect(statSync(join(dest, 'bin', 'run')).mode & 0o111).not.toBe(0);
      await staged.unstage();
      expect(existsSync(join(dest, 'README.md'))).toBe(false);
    });

    it('reports a tree casd cannot stage as an error naming the digest', async () => {
      const ghost = digestOfBuffer(Buffer.from('unknown tree'));
      const error = await failure(stageTree(fx.connection, ghost, join(fx.scratch(), 'staged')));
      expect(error.message).toContain(`staging tree ${formatDigest(ghost)}`);
    });
  });
});
