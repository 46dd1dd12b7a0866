import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Every entry under `root`: path -> kind, mode and content hash (or link target). Two trees
 * with equal maps are byte-identical restores of each other: modes, symlinks, empty files and
 * directories included.
 */
export function describeTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = relative(root, path);
      const info = lstatSync(path);
      if (info.isSymbolicLink()) out.set(rel, `link ${readlinkSync(path)}`);
      else if (info.isDirectory()) {
        out.set(rel, 'dir');
        walk(path);
      } else {
        const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
        out.set(rel, `file ${(info.mode & 0o777).toString(8)} ${hash}`);
      }
    }
  };
  walk(root);
  return out;
}
