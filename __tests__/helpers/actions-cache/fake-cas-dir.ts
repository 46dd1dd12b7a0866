import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * A casd-shaped cache directory filled without casd: blobs named by their real SHA-256 at
 * cas/objects/<2 hex>/<62 hex>, ref files under cas/refs/heads, and a few action cache and
 * asset files.
 */
export class FakeCasDir {
  constructor(readonly root: string) {
    mkdirSync(join(root, 'cas', 'objects'), { recursive: true });
  }

  /** Adds `count` random (incompressible) blobs of `size` bytes; returns their hashes. */
  addBlobs(count: number, size: number): string[] {
    const hashes: string[] = [];
    for (let i = 0; i < count; i++) hashes.push(this.addBlob(randomBytes(size)));
    return hashes;
  }

  addBlob(data: Buffer): string {
    const hash = createHash('sha256').update(data).digest('hex');
    const dir = join(this.root, 'cas', 'objects', hash.slice(0, 2));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, hash.slice(2)), data);
    return hash;
  }

  removeBlob(hash: string): void {
    rmSync(join(this.root, 'cas', 'objects', hash.slice(0, 2), hash.slice(2)));
  }

  /** Writes a small file (ref, action cache entry, asset) at a path relative to the root. */
  writeFile(rel: string, content: string): void {
    const path = join(this.root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content);
  }

  /** Adds a ref, an action cache entry and an asset, as a job would. */
  addSmallFiles(tag: string): void {
    this.writeFile(`cas/refs/heads/project/${tag}`, `ref ${tag}`);
    this.writeFile(`actioncache/${createHash('sha256').update(tag).digest('hex')}`, `action ${tag}`);
    this.writeFile(`assets/fetch/${tag}`, `asset ${tag}`);
  }

  /** Blob hashes present. */
  blobs(): string[] {
    return this.listFiles('cas/objects').map((rel) => rel.split('/').join(''));
  }

  /** Total bytes of the blobs present. */
  blobBytes(): number {
    return this.listFiles('cas/objects').reduce(
      (sum, rel) => sum + statSync(join(this.root, 'cas/objects', rel)).size,
      0,
    );
  }

  /** Every file under the root except our own state and staging, as path -> content hash. */
  snapshot(): Map<string, string> {
    const result = new Map<string, string>();
    for (const rel of this.listFiles('.')) {
      if (rel.startsWith('.persist')) continue;
      result.set(
        rel,
        createHash('sha256')
          .update(readFileSync(join(this.root, rel)))
          .digest('hex'),
      );
    }
    return result;
  }

  /** Removes everything (a fresh runner). */
  wipe(): void {
    rmSync(this.root, { recursive: true, force: true });
    mkdirSync(join(this.root, 'cas', 'objects'), { recursive: true });
  }

  private listFiles(sub: string): string[] {
    const base = join(this.root, sub);
    const out: string[] = [];
    const walk = (dir: string): void => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) out.push(relative(base, path));
      }
    };
    walk(base);
    return out.sort();
  }
}
