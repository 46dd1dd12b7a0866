import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/casd/process.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { startReleaseServer } from '../helpers/release.js';
import { createRunnerJob, runAction, runnerPath, type RunnerJob } from '../helpers/runner.js';
import { cliJson, cliOk, runCli, tempDir } from '../cli/run-cli.js';
import { SCHEMAS, type StartJson } from '../../src/cli/json.js';
import { buildTool, INSTALL_TIMEOUT_MS } from './tools.js';

/** A workspace Bazel 7 builds offline: a genrule, a cc_library and a cc_binary. */
function writeWorkspace(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'MODULE.bazel'), 'module(name = "casd_smoke")\n');
  writeFileSync(
    join(dir, 'BUILD.bazel'),
    [
      'genrule(',
      '    name = "greeting",',
      '    outs = ["greeting.h"],',
      '    cmd = "echo \'#define GREETING \\"hello from a genrule\\"\' > $@",',
      ')',
      'cc_library(name = "greet", srcs = ["greet.cc"], hdrs = ["greet.h", ":greeting"])',
      'cc_binary(name = "hello", srcs = ["main.cc"], deps = [":greet"])',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'greet.h'), '#pragma once\nconst char *greeting();\n');
  writeFileSync(
    join(dir, 'greet.cc'),
    '#include "greet.h"\n#include "greeting.h"\nconst char *greeting() { return GREETING; }\n',
  );
  writeFileSync(
    join(dir, 'main.cc'),
    '#include <cstdio>\n#include "greet.h"\nint main() { std::puts(greeting()); return 0; }\n',
  );
}

/** What Bazel's "INFO: N processes: ..." line says: remote cache hits and actions run. */
interface ProcessSummary {
  total: number;
  remoteHits: number;
  internal: number;
  line: string;
}

function processSummary(log: string): ProcessSummary {
  const line = /INFO: (\d+) processes?: ([^\n]*)\./.exec(log);
  if (!line) throw new Error(`no process summary in Bazel's output:\n${log}`);
  const count = (what: string): number => Number(new RegExp(`(\\d+) ${what}`).exec(line[2]!)?.[1] ?? 0);
  return {
    total: Number(line[1]),
    remoteHits: count('remote cache hit'),
    internal: count('internal'),
    line: line[0],
  };
}

describe('Bazel 7 with the generated bazelrc, through the Bazel bridge', () => {
  const tmp = tempDir('bazel-');
  const workspace = join(tmp.dir, 'ws');
  const jobs: RunnerJob[] = [];
  let bazel: string;
  let remote: TestCasd;
  let release: Awaited<ReturnType<typeof startReleaseServer>>;
  let firstBuild: ProcessSummary;

  beforeAll(async () => {
    bazel = buildTool('bazel');
    writeWorkspace(workspace);
    [remote, release] = await Promise.all([startTestCasd({ tcp: true }), startReleaseServer()]);
  }, INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    for (const root of ['one', 'two', 'three']) await runBazel(root, [], ['shutdown']).catch(() => undefined);
    for (const name of ['first', 'fresh']) await runCli(['stop', '--cache-dir', join(tmp.dir, name)]);
    await Promise.all([remote?.stop(), release?.stop()]);
    for (const job of jobs) job.remove();
    tmp.remove();
  });

  /** `bazel --output_user_root=<root> [startup] command ...` in the workspace; its whole output. */
  function runBazel(root: string, startup: string[], args: string[]): Promise<{ code: number; log: string }> {
    const argv = [
      `--output_user_root=${join(tmp.dir, `bazel-${root}`)}`,
      '--max_idle_secs=120',
      ...startup,
      ...args,
    ];
    const build = args[0] === 'build' ? ['--noenable_workspace', '--spawn_strategy=local'] : [];
    return new Promise((resolve) => {
      execFile(
        bazel,
        [...argv, ...build],
        { cwd: workspace, maxBuffer: 32 * 1024 * 1024, timeout: 300_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 1) : 0, log: `${stdout}${stderr}` }),
      );
    });
  }

  async function build(root: string, bazelrc: string): Promise<ProcessSummary> {
    const result = await runBazel(root, [`--bazelrc=${bazelrc}`], ['build', '//:hello']);
    expect(result.code, result.log).toBe(0);
    expect(result.log).not.toMatch(/Failed to query remote execution capabilities/);
    return processSummary(result.log);
  }

  it('gets a remote cache hit for every action after bazel clean', async () => {
    const started = await cliJson<StartJson>(
      [
        'start',
        '--cache-dir',
        join(tmp.dir, 'first'),
        '--listen',
        '127.0.0.1:0',
        '--remote',
        remote.url!,
        '--settings-dir',
        join(tmp.dir, 'first-settings'),
      ],
      SCHEMAS.start,
    );
    const bazelrc = started.settings!.bazelrc;
    firstBuild = await build('one', bazelrc);
    expect(firstBuild.remoteHits, firstBuild.line).toBe(0);
    const actions = firstBuild.total - firstBuild.internal;
    expect(actions, firstBuild.line).toBeGreaterThanOrEqual(3);
    const clean = await runBazel('one', [`--bazelrc=${bazelrc}`], ['clean']);
    expect(clean.code, clean.log).toBe(0);
    const again = await build('one', bazelrc);
    expect(again.remoteHits, again.line).toBe(actions);
    await cliOk(['stop', '--cache-dir', join(tmp.dir, 'first')]);
    expect(processAlive(started.pid)).toBe(false);
  });

  it('gets the hits from the remote on a fresh daemon and a fresh Bazel (a fresh runner)', async () => {
    const started = await cliJson<StartJson>(
      [
        'start',
        '--cache-dir',
        join(tmp.dir, 'fresh'),
        '--listen',
        '127.0.0.1:0',
        '--remote',
        remote.url!,
        '--settings-dir',
        join(tmp.dir, 'fresh-settings'),
      ],
      SCHEMAS.start,
    );
    const fromRemote = await build('two', started.settings!.bazelrc);
    expect(fromRemote.remoteHits, fromRemote.line).toBe(firstBuild.total - firstBuild.internal);
    await cliOk(['stop', '--cache-dir', join(tmp.dir, 'fresh')]);
  });

  it('the bundled action with listen: its bazelrc output gets the hits, and post stops the bridge', async () => {
    const job = createRunnerJob();
    jobs.push(job);
    const path = runnerPath();
    const main = await runAction('main', {
      job,
      inputs: {
        'casd-url': release.urlTemplate,
        'casd-version': '1.4.30',
        'cache-dir': join(job.root, 'casd-cache'),
        listen: '127.0.0.1:0',
        remote: remote.url!,
        'save-local-cache': 'false',
      },
      env: { PATH: path },
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    expect(main.outputs['bazel-url']).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
    expect(main.exportedEnv.CASD_BAZEL_URL).toBe(main.outputs['bazel-url']);
    const bazelrc = main.outputs.bazelrc!;
    expect(existsSync(bazelrc)).toBe(true);
    const hits = await build('three', bazelrc);
    expect(hits.remoteHits, hits.line).toBe(firstBuild.total - firstBuild.internal);
    const bridgePid = (JSON.parse(main.state['casd-main']!) as { daemon: { bazelBridge: { pid: number } } })
      .daemon.bazelBridge.pid;
    expect(processAlive(bridgePid)).toBe(true);
    const post = await runAction('post', { after: main, env: { PATH: path } });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    for (let i = 0; i < 50 && processAlive(bridgePid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(processAlive(bridgePid)).toBe(false);
  });
});
