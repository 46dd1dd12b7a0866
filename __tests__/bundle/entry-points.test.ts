// The committed bundles (dist/) start under Node 24, the runtime action.yml names, and behave
// as the runner and users see them. These run dist/ as committed; .ci/run checks that dist/
// matches the sources, so a stale bundle fails CI there rather than here.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunnerJob, NODE24, REPO_ROOT, runAction, type RunnerJob } from '../helpers/runner.js';

const STACK_LINE = /^\s+at /m;

describe('action bundles under Node 24', () => {
  let job: RunnerJob;
  let cacheRoot: string;

  beforeAll(() => {
    job = createRunnerJob();
    cacheRoot = mkdtempSync(join(tmpdir(), 'casd-bundle-'));
  });
  afterAll(() => {
    job.remove();
    rmSync(cacheRoot, { recursive: true, force: true });
  });

  /** Minimal valid inputs that download nothing and need no Actions cache service. */
  function minimalInputs(name: string): Record<string, string> {
    return {
      'casd-path': process.env.BUILDBOX_CASD ?? '',
      'cache-dir': join(cacheRoot, name),
      'save-local-cache': 'false',
    };
  }

  it('main with valid minimal inputs exits 0, and post after it exits 0', async () => {
    const main = await runAction('main', { job, inputs: minimalInputs('valid') });
    expect(main.stderr).not.toMatch(STACK_LINE);
    expect(main.commands.filter((c) => c.command === 'error')).toEqual([]);
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);

    const socket = main.outputs.socket;
    expect(socket).toMatch(/^unix:\//);
    expect(main.exportedEnv.CASD_SOCKET).toBe(socket);
    expect(existsSync(socket.slice('unix:'.length))).toBe(true);

    const post = await runAction('post', { after: main });
    expect(post.commands.filter((c) => c.command === 'error')).toEqual([]);
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    // The post step stopped the daemon, which removes its socket.
    expect(existsSync(socket.slice('unix:'.length))).toBe(false);
  });

  it('each step is a few lines over the one shared bundle, not a bundle of its own', () => {
    for (const entry of ['main', 'post', 'restore', 'save']) {
      const text = readFileSync(join(REPO_ROOT, 'dist', entry, 'index.js'), 'utf8');
      expect(text.length, entry).toBeLessThan(2000);
      expect(text, entry).toContain("'../steps/index.js'");
    }
  });

  it('post exits 0 when main never ran (no state), as after a cancelled job', async () => {
    const post = await runAction('post', { job, inputs: minimalInputs('no-main') });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
  });

  it('main with a bad quota exits 1 with one ::error:: naming the input and no stack trace', async () => {
    const main = await runAction('main', { job, inputs: { ...minimalInputs('bad'), quota: 'lots' } });
    expect(main.exitCode).toBe(1);
    const errors = main.commands.filter((c) => c.command === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toContain('input "quota"');
    expect(errors[0].message).toContain('"lots"');
    expect(main.stdout).not.toMatch(STACK_LINE);
    expect(main.stderr).not.toMatch(STACK_LINE);
  });

  it('main reports every bad input in one error', async () => {
    const main = await runAction('main', {
      job,
      inputs: { ...minimalInputs('bad-many'), quota: 'lots', 'log-level': 'loud' },
    });
    expect(main.exitCode).toBe(1);
    const [error] = main.commands.filter((c) => c.command === 'error');
    expect(error.message).toContain('input "quota"');
    expect(error.message).toContain('input "log-level"');
  });

  it('main masks the token before anything is logged', async () => {
    const secret = 'ghp_bundle-test-secret-token';
    const main = await runAction('main', {
      job,
      inputs: { ...minimalInputs('masked'), token: secret, quota: 'lots' },
    });
    const masks = main.commands.filter((c) => c.command === 'add-mask').map((c) => c.message);
    expect(masks).toContain(secret);
    // The secret's first appearance on stdout is inside the add-mask command itself.
    const maskCommand = `::add-mask::${secret}`;
    expect(main.stdout.indexOf(secret)).toBe(main.stdout.indexOf(maskCommand) + '::add-mask::'.length);
  });
});

describe('CLI bundle under Node 24', () => {
  const cli = join(REPO_ROOT, 'dist', 'cli', 'index.js');

  it('prints usage and exits 0 with --help', () => {
    const result = spawnSync(NODE24, [cli, '--help'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^usage: casd-action <command>/);
  });

  it('exits 2 and names the command when it is unknown', () => {
    const result = spawnSync(NODE24, [cli, 'no-such-command'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('no-such-command');
    expect(result.stderr).not.toMatch(STACK_LINE);
  });

  it('runs through its shebang as an executable', () => {
    const result = spawnSync(cli, ['--help'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${join(NODE24, '..')}:${process.env.PATH ?? ''}` },
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('usage: casd-action');
  });
});
