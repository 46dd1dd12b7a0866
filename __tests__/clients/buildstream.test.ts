import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { cliOk, runCli, tempDir } from '../cli/run-cli.js';
import { buildTool, INSTALL_TIMEOUT_MS, treeFingerprint } from './tools.js';

/** A BuildStream 2 project with one import element: nested dirs, an executable, a symlink. */
function writeProject(dir: string, text: string): void {
  mkdirSync(join(dir, 'elements'), { recursive: true });
  mkdirSync(join(dir, 'files', 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'project.conf'), 'name: hello\nmin-version: 2.0\nelement-path: elements\n');
  writeFileSync(join(dir, 'elements', 'hello.bst'), 'kind: import\nsources:\n- kind: local\n  path: files\n');
  writeFileSync(join(dir, 'files', 'README'), `${text}\n`);
  writeFileSync(join(dir, 'files', 'sub', 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(dir, 'files', 'sub', 'run.sh'), 0o755);
  writeFileSync(join(dir, 'files', 'sub', 'deeper', 'data.txt'), 'nested\n');
  symlinkSync('sub/run.sh', join(dir, 'files', 'run-link'));
}

describe('BuildStream 2 with the generated buildstream.conf', () => {
  const tmp = tempDir('bst-');
  let bst: string;
  let remote: TestCasd;

  beforeAll(async () => {
    bst = buildTool('bst');
    remote = await startTestCasd({ tcp: true });
  }, INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    for (const name of ['local', 'proxy']) await runCli(['stop', '--cache-dir', join(tmp.dir, name)]);
    await remote?.stop();
    tmp.remove();
  });

  /** `bst --config conf ...` with BuildStream's own cache and config inside the test's dir. */
  function runBst(conf: string, project: string, args: string[]): Promise<{ code: number; log: string }> {
    const env = {
      ...process.env,
      XDG_CACHE_HOME: join(tmp.dir, 'xdg', 'cache'),
      XDG_CONFIG_HOME: join(tmp.dir, 'xdg', 'config'),
      XDG_DATA_HOME: join(tmp.dir, 'xdg', 'data'),
    };
    const argv = [
      '--config',
      conf,
      '--no-interactive',
      '--no-colors',
      '--on-error',
      'terminate',
      '-C',
      project,
    ];
    return new Promise((resolve) => {
      execFile(bst, [...argv, ...args], { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number(err.code ?? 1) : 0, log: `${stdout}${stderr}` });
      });
    });
  }

  function wipeBuildStreamCache(): void {
    rmSync(join(tmp.dir, 'xdg', 'cache', 'buildstream'), { recursive: true, force: true });
  }

  /** Build, check out, wipe BuildStream's cache, build again (a pull), check out again. */
  async function buildWipeRebuild(conf: string, name: string, between?: () => Promise<void>) {
    const project = join(tmp.dir, `${name}-project`);
    writeProject(project, `built for the ${name} test`);
    const first = await runBst(conf, project, ['build', 'hello.bst']);
    expect(first.code, first.log).toBe(0);
    expect(first.log).toMatch(/Pushed artifact/);
    const out1 = join(tmp.dir, `${name}-out1`);
    const checkout1 = await runBst(conf, project, ['artifact', 'checkout', '--directory', out1, 'hello.bst']);
    expect(checkout1.code, checkout1.log).toBe(0);
    wipeBuildStreamCache();
    await between?.();
    const second = await runBst(conf, project, ['build', 'hello.bst']);
    expect(second.code, second.log).toBe(0);
    expect(second.log).toMatch(/Pulled artifact/);
    expect(second.log).toMatch(/Build Queue:\s+processed 0, skipped 1, failed 0/);
    const out2 = join(tmp.dir, `${name}-out2`);
    const checkout2 = await runBst(conf, project, ['artifact', 'checkout', '--directory', out2, 'hello.bst']);
    expect(checkout2.code, checkout2.log).toBe(0);
    expect(treeFingerprint(out2)).toEqual(treeFingerprint(out1));
    expect(treeFingerprint(out1)).toContain('run-link -> sub/run.sh');
    expect(treeFingerprint(out1)).toContainEqual(expect.stringMatching(/^sub\/run\.sh x /));
  }

  it('pulls instead of building after a wipe, from the daemon when there is no remote', async () => {
    const settings = join(tmp.dir, 'local-settings');
    await cliOk([
      'start',
      '--cache-dir',
      join(tmp.dir, 'local'),
      '--listen',
      '127.0.0.1:0',
      '--settings-dir',
      settings,
    ]);
    const conf = join(settings, 'buildstream.conf');
    expect(parse(readFileSync(conf, 'utf8')).artifacts.servers[0].push).toBe(true);
    await buildWipeRebuild(conf, 'local');
    await cliOk(['stop', '--cache-dir', join(tmp.dir, 'local')]);
  });

  it('pulls from the remote after a wipe on a fresh daemon (a fresh runner)', async () => {
    const settings = join(tmp.dir, 'proxy-settings');
    await cliOk([
      'start',
      '--cache-dir',
      join(tmp.dir, 'proxy'),
      '--remote',
      remote.url as string,
      '--settings-dir',
      settings,
    ]);
    const conf = join(settings, 'buildstream.conf');
    await buildWipeRebuild(conf, 'proxy', async () => {
      // The second build must find the artifact on the remote alone: no daemon of this job.
      await cliOk(['stop', '--cache-dir', join(tmp.dir, 'proxy')]);
    });
  });
});
