import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const SCRIPTS = join(import.meta.dirname, '..', '..', 'scripts');

/** How long installing a real build tool may take on a cold machine (the hook's timeout). */
export const INSTALL_TIMEOUT_MS = 600_000;

/**
 * The real build tool: from its environment variable (set by .ci/run), else installed once per
 * machine by the project's script (a no-op once installed, cached outside the repository).
 */
export function buildTool(tool: 'bazel' | 'bst'): string {
  const variable = tool === 'bazel' ? 'CASD_ACTION_BAZEL' : 'CASD_ACTION_BST';
  const given = process.env[variable];
  if (given) {
    if (!existsSync(given)) throw new Error(`${variable}=${given} does not exist`);
    return given;
  }
  const script = join(SCRIPTS, tool === 'bazel' ? 'install-bazel.sh' : 'install-buildstream2.sh');
  const path = execFileSync('bash', [script], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: INSTALL_TIMEOUT_MS,
  }).trim();
  process.env[variable] = path;
  return path;
}

/**
 * Everything that makes two trees the same for a user: each entry's path, type, executable
 * bit, and content hash or symlink target (times are left out: checkouts stamp the present).
 */
export function treeFingerprint(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const relPath = rel ? `${rel}/${name}` : name;
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) out.push(`${relPath} -> ${readlinkSync(path)}`);
      else if (stat.isDirectory()) {
        out.push(`${relPath}/`);
        walk(path, relPath);
      } else {
        const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
        out.push(`${relPath} ${stat.mode & 0o111 ? 'x' : '-'} ${hash}`);
      }
    }
  };
  walk(root, '');
  return out;
}
