import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rmdir, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { CasError } from '../../errors.js';
import { Digest } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { validateDigest } from '../digest.js';
import { validateRefName } from './ref-names.js';

/** A ref as `list` returns it. */
export interface RefInfo {
  name: string;
  digest: Digest;
  mtimeMs: number;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** `**` spans `/`, `*` and `?` stay within one component; everything else is literal. */
function globToRegExp(glob: string): RegExp {
  let pattern = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        pattern += '(?:.*/)?';
      } else {
        pattern += '.*';
      }
    } else if (c === '*') pattern += '[^/]*';
    else if (c === '?') pattern += '[^/]';
    else pattern += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${pattern}$`, 's');
}

/**
 * Named pointers to trees, one file per ref under `<cacheDir>/cas/refs/heads/<name>`, each
 * holding a serialised Digest message (the layout BuildStream's CASCache uses). casd does not
 * know about refs; its expiry may remove the objects a ref points to.
 */
export class RefStore {
  readonly refsDir: string;
  private readonly tmpDir: string;

  constructor(cacheDir: string) {
    this.refsDir = join(resolve(cacheDir), 'cas', 'refs', 'heads');
    this.tmpDir = join(resolve(cacheDir), 'cas', 'tmp');
  }

  private pathOf(name: string): string {
    // The one rule for ref names (ref-names.ts): also what keeps a name inside refs/heads.
    validateRefName(name);
    const path = join(this.refsDir, ...name.split('/'));
    // Belt and braces: validation already rules out any escape.
    if (!path.startsWith(this.refsDir + sep)) {
      throw new CasError('invalid-ref', `ref name ${JSON.stringify(name)} resolves outside ${this.refsDir}`);
    }
    return path;
  }

  /**
   * Points `name` at `digest`, replacing any previous value atomically (a temporary file in
   * `cas/tmp`, then rename). Throws CasError('invalid-ref') for a bad name or one that clashes
   * with an existing ref (`a` when `a/b` exists, or the reverse).
   */
  async set(name: string, digest: Digest): Promise<void> {
    const path = this.pathOf(name);
    validateDigest(digest, `ref ${name}`);
    const data = Digest.encode(digest).finish();
    const tmp = join(this.tmpDir, `ref-${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(dirname(path), { recursive: true });
      await mkdir(this.tmpDir, { recursive: true });
      await writeFile(tmp, data, { mode: 0o644 });
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      const code = errnoOf(err);
      if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
        throw new CasError(
          'invalid-ref',
          `cannot set ref ${JSON.stringify(name)}: it clashes with an existing ref (a ref cannot be both a name and a prefix of other refs)`,
          { cause: err },
        );
      }
      throw new CasError('io', `cannot write ref ${JSON.stringify(name)} at ${path}: ${code}`, {
        cause: err,
      });
    }
  }

  /**
   * The digest `name` points to; with `touch`, also marks the ref as used now.
   * Throws CasError('ref-not-found') naming the ref, 'corrupt-data' if the file is garbage.
   */
  async resolve(name: string, options: { touch?: boolean } = {}): Promise<Digest> {
    const path = this.pathOf(name);
    let data: Buffer;
    try {
      data = await readFile(path);
      if (options.touch) {
        const now = new Date();
        await utimes(path, now, now);
      }
    } catch (err) {
      throw this.readError(name, err);
    }
    return this.decode(name, data);
  }

  /** Marks `name` as used now (its mtime). Throws CasError('ref-not-found') naming the ref. */
  async touch(name: string): Promise<void> {
    const path = this.pathOf(name);
    try {
      if (!(await stat(path)).isFile()) throw Object.assign(new Error('not a ref'), { code: 'EISDIR' });
      const now = new Date();
      await utimes(path, now, now);
    } catch (err) {
      throw this.readError(name, err);
    }
  }

  /** True when the ref exists. Throws CasError('invalid-ref') for a bad name. */
  async has(name: string): Promise<boolean> {
    const path = this.pathOf(name);
    try {
      return (await stat(path)).isFile();
    } catch {
      return false;
    }
  }

  /**
   * Deletes the ref and then every parent directory left empty, up to (not including)
   * `refs/heads`. Throws CasError('ref-not-found') naming the ref.
   */
  async remove(name: string): Promise<void> {
    const path = this.pathOf(name);
    try {
      if (!(await stat(path)).isFile()) throw Object.assign(new Error('not a ref'), { code: 'EISDIR' });
      await unlink(path);
    } catch (err) {
      throw this.readError(name, err);
    }
    for (
      let dir = dirname(path);
      dir !== this.refsDir && dir.startsWith(this.refsDir + sep);
      dir = dirname(dir)
    ) {
      try {
        await rmdir(dir);
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'ENOENT') continue;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') break;
        throw new CasError('io', `removed ref ${JSON.stringify(name)} but cannot prune ${dir}: ${code}`, {
          cause: err,
        });
      }
    }
  }

  /**
   * Every ref whose name matches `glob` (all refs without one), newest first (ties by name).
   * In the glob, `*` and `?` match within one `/`-separated component, `**` across them.
   */
  async list(glob?: string): Promise<RefInfo[]> {
    const match = glob === undefined ? undefined : globToRegExp(glob);
    let entries: string[];
    try {
      entries = await readdir(this.refsDir, { recursive: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw new CasError('io', `cannot list refs in ${this.refsDir}: ${errnoOf(err)}`, { cause: err });
    }
    const refs: RefInfo[] = [];
    for (const entry of entries) {
      const name = entry.split(sep).join('/');
      if (match && !match.test(name)) continue;
      const path = join(this.refsDir, entry);
      try {
        const info = await stat(path);
        if (!info.isFile()) continue;
        refs.push({ name, digest: this.decode(name, await readFile(path)), mtimeMs: info.mtimeMs });
      } catch (err) {
        // A ref removed while listing is simply not listed.
        if (errnoOf(err) === 'ENOENT') continue;
        throw err;
      }
    }
    return refs.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private readError(name: string, err: unknown): CasError {
    const code = errnoOf(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
      return new CasError('ref-not-found', `ref ${JSON.stringify(name)} does not exist in ${this.refsDir}`, {
        cause: err,
      });
    }
    return new CasError('io', `cannot access ref ${JSON.stringify(name)}: ${code}`, { cause: err });
  }

  private decode(name: string, data: Buffer): Digest {
    let digest: Digest;
    try {
      digest = Digest.decode(data);
      validateDigest(digest, `ref ${name}`);
    } catch (err) {
      throw new CasError('corrupt-data', `ref ${JSON.stringify(name)} does not hold a valid Digest message`, {
        cause: err,
      });
    }
    return { hash: digest.hash, sizeBytes: digest.sizeBytes };
  }
}
