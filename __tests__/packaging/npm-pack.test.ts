// The npm package as users get it: `npm pack` of the repository, installed globally into a
// private prefix without the network, then the installed `casd-action` bin run against the
// real buildbox-casd. This proves the package ships what the CLI needs at run time (its
// bundle, and the Bazel bridge it starts from ../bazel-bridge/index.js) and nothing it must
// download.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartJson } from '../../src/cli/json.js';
import { sleep } from '../../src/util/concurrency.js';
import { casdBinary } from '../helpers/casd.js';
import { REPO_ROOT } from '../helpers/runner.js';

const run = promisify(execFile);

interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  bin?: Record<string, string>;
  main?: string;
  exports?: unknown;
  files?: string[];
  dependencies?: Record<string, string>;
  repository?: { type: string; url: string };
  homepage?: string;
}

interface PackedFile {
  path: string;
  mode: number;
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

/**
 * The environment for npm and the installed bin: none of the npm_* settings of the npm that
 * runs the tests (a prefix, a global flag), a private npm cache, no CASD_ACTION_* from
 * outside, and this Node first on PATH for the bin's `#!/usr/bin/env node`.
 */
function cleanEnv(cache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|CASD_ACTION_)/i.test(key) && key !== 'BUILDBOX_CASD') env[key] = value;
  }
  return {
    ...env,
    PATH: [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter),
    npm_config_cache: cache,
    npm_config_update_notifier: 'false',
    CASD_ACTION_PROGRESS: 'off',
  };
}

/** Every path the package names as something to run or import. */
function entryPoints(p: PackageJson): string[] {
  const paths = [...Object.values(p.bin ?? {})];
  if (p.main) paths.push(p.main);
  const walk = (value: unknown): void => {
    if (typeof value === 'string') paths.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(p.exports);
  return paths.map((path) => path.replace(/^\.\//, ''));
}

describe('the npm package', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'npm-pack-'));
  const env = cleanEnv(join(tmp, 'npm-cache'));
  const prefix = join(tmp, 'prefix');
  const cacheDir = join(tmp, 'casd-cache');
  const installedRoot = join(prefix, 'lib', 'node_modules', pkg.name);
  const bin = join(prefix, 'bin', 'casd-action');
  let files: PackedFile[] = [];
  let tarball = '';

  const cli = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(bin, args, { env, cwd: tmp });
    return stdout;
  };

  beforeAll(async () => {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tmp], {
      cwd: REPO_ROOT,
      env,
    });
    const [packed] = JSON.parse(stdout) as [{ filename: string; files: PackedFile[] }];
    files = packed.files;
    tarball = join(tmp, packed.filename);
  });

  afterAll(async () => {
    if (existsSync(bin)) await run(bin, ['stop', '--cache-dir', cacheDir], { env }).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('is publishable, names its repository and needs no dependencies at run time', () => {
    expect(pkg.private).toBeUndefined();
    expect(pkg.repository?.url).toBe('git+https://github.com/casd-action/casd-action.git');
    expect(pkg.homepage).toBe('https://github.com/casd-action/casd-action#readme');
    // The bin is a self-contained bundle: a dependency would only be a download.
    expect(pkg.dependencies ?? {}).toEqual({});
  });

  it('ships the CLI, the Bazel bridge and the documents, and nothing else', () => {
    const paths = files.map((f) => f.path).sort();
    for (const path of ['dist/cli/index.js', 'dist/bazel-bridge/index.js', 'README.md', 'CHANGELOG.md']) {
      expect(paths).toContain(path);
    }
    if (existsSync(join(REPO_ROOT, 'LICENSE'))) expect(paths).toContain('LICENSE');
    const allowed =
      /^(dist\/cli\/|dist\/bazel-bridge\/|docs\/cli\.md$|README\.md$|CHANGELOG\.md$|LICENSE$|package\.json$)/;
    expect(paths.filter((path) => !allowed.test(path))).toEqual([]);
  });

  it('ships every file its bin, main and exports name, the bin executable', () => {
    const byPath = new Map(files.map((f) => [f.path, f]));
    for (const path of entryPoints(pkg)) expect(byPath.has(path), `${path} is not in the package`).toBe(true);
    for (const path of Object.values(pkg.bin ?? {})) {
      expect(byPath.get(path)!.mode & 0o111, `${path} is not executable`).not.toBe(0);
      expect(readFileSync(join(REPO_ROOT, path), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    }
  });

  it('installs globally without the network and without dependencies', async () => {
    await run(
      'npm',
      ['install', '--global', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball],
      { cwd: tmp, env },
    );
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    expect(existsSync(join(installedRoot, 'node_modules'))).toBe(false);
    expect(await cli('--version')).toBe(`casd-action ${pkg.version}\n`);
  });

  it('runs start --listen, status and stop from the install, with its own Bazel bridge', async () => {
    const started = JSON.parse(
      await cli(
        'start',
        '--listen',
        '127.0.0.1:0',
        '--cache-dir',
        cacheDir,
        '--casd',
        casdBinary(),
        '--json',
      ),
    ) as StartJson;
    expect(started.bazelUrl).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
    // The bridge process runs the installed package's script, not the repository's.
    const state = JSON.parse(readFileSync(started.stateFile, 'utf8')) as { bazelBridge: { pid: number } };
    const bridgePid = state.bazelBridge.pid;
    const cmdline = readFileSync(`/proc/${bridgePid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain(join(installedRoot, 'dist', 'bazel-bridge', 'index.js'));

    const status = await cli('status', '--cache-dir', cacheDir);
    expect(status).toContain(`daemon: running (pid ${started.pid})`);
    expect(status).toContain(`bazel-url: ${started.bazelUrl}\n`);

    expect(await cli('stop', '--cache-dir', cacheDir)).toBe(`stopped buildbox-casd (pid ${started.pid})\n`);
    for (let i = 0; i < 50 && existsSync(`/proc/${bridgePid}/cmdline`) && !zombie(bridgePid); i++) {
      await sleep(100);
    }
    expect(existsSync(`/proc/${bridgePid}`) && !zombie(bridgePid)).toBe(false);
  });
});

/** True when `pid` has exited but not been reaped (this sandbox's init does not reap orphans). */
function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
