import { rmSync, writeFileSync, appendFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/grpc/connection.js';
import { unary } from '../../src/grpc/call.js';
import { startActionsCacheEmulator, type ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { freePort, startTestCasd, type TestCasd } from '../helpers/casd.js';
import { startReleaseServer } from '../helpers/release.js';
import { createRunnerJob, runAction, type ActionRun, type RunnerJob } from '../helpers/runner.js';
import { countObjects, readTree, startJobsApi, writeWorkspaceTree } from './helpers.js';

type Release = Awaited<ReturnType<typeof startReleaseServer>>;
type JobsApi = Awaited<ReturnType<typeof startJobsApi>>;

describe('the bundled action, end to end', () => {
  let release: Release;
  let remote: TestCasd;
  let cache: ActionsCacheEmulator;
  let api: JobsApi;
  const jobs: RunnerJob[] = [];

  beforeAll(async () => {
    [release, remote, cache, api] = await Promise.all([
      startReleaseServer(),
      startTestCasd({ tcp: true }),
      startActionsCacheEmulator(),
      startJobsApi(),
    ]);
  });
  afterAll(async () => {
    for (const job of jobs) job.remove();
    await Promise.all([release?.stop(), remote?.stop(), cache?.stop(), api?.stop()]);
  });

  /** A fresh runner (new tool cache, temp, workspace and cache dir), as for a new job. */
  function newJob(): RunnerJob {
    const job = createRunnerJob();
    jobs.push(job);
    return job;
  }

  function inputs(job: RunnerJob, extra: Record<string, string> = {}): Record<string, string> {
    return {
      'casd-url': release.urlTemplate,
      // Outside the table of known releases: the test archive's checksum verifies it.
      'casd-version': '1.4.30',
      'casd-sha256': release.sha256,
      'cache-dir': join(job.root, 'casd-cache'),
      remote: remote.url!,
      path: 'out',
      key: 'build-linux-v1',
      'restore-keys': 'build-linux-',
      'github-token': 'ghs_test',
      ...extra,
    };
  }

  // The test process has the test casd on PATH; a fresh runner does not, so install downloads.
  const runnerPath = (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => !dir.includes('buildbox'))
    .join(':');
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...cache.env,
    ...api.env,
    PATH: runnerPath,
    ...extra,
  });

  /** The job's own build step: talks to the daemon through the exported socket. */
  async function buildStep(main: ActionRun): Promise<void> {
    const socket = main.exportedEnv.CASD_SOCKET;
    expect(socket).toBe(main.outputs.socket);
    const connection = new Connection(socket);
    try {
      const caps = await unary(connection.capabilities.getCapabilities.bind(connection.capabilities), {
        instanceName: '',
      });
      expect(caps.cacheCapabilities).toBeDefined();
    } finally {
      connection.close();
    }
  }

  async function runJob(
    job: RunnerJob,
    step: (workspace: string) => void,
    options: { inputs?: Record<string, string>; env?: Record<string, string> } = {},
  ): Promise<{ main: ActionRun; post: ActionRun }> {
    const main = await runAction('main', { job, inputs: inputs(job, options.inputs), env: env(options.env) });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    await buildStep(main);
    step(job.workspace);
    const post = await runAction('post', { after: main, env: env(options.env) });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    return { main, post };
  }

  it('cold run: installs casd from the release, saves path under key, pushes to the remote', async () => {
    const before = countObjects(remote.cacheDir);
    const { main, post } = await runJob(newJob(), (ws) => writeWorkspaceTree(join(ws, 'out'), 200), {
      inputs: { 'save-local-cache': 'true' },
    });
    expect(main.commands.filter((c) => c.command === 'warning')).toEqual([]);
    expect(main.outputs['casd-version']).toBe('1.4.30');
    expect(main.outputs['cache-hit']).toBe('false');
    expect(main.outputs.socket).toMatch(/^unix:\//);
    expect(release.requests.length).toBe(1);
    // 200 files (some share contents? no: all differ), 21 directories, the root, the manifest.
    expect(countObjects(remote.cacheDir) - before).toBeGreaterThanOrEqual(200);
    expect(post.summary).toMatch(/Quota usage:<\/b> <code>[\d.]+ [kMG]?B \/ 5\.0 GB \(\d+%\)/);
    expect(post.summary).toContain('✅ committed');
    expect(post.summary).toContain('the job succeeded');
    // The local cache was saved: this small one as one entry, its pack inside the index.
    expect(cache.stats.entriesCreated).toBeGreaterThanOrEqual(1);
  });

  it('warm run on a new runner: restores path from the remote with an exact hit', async () => {
    const job = newJob();
    const main = await runAction('main', {
      job,
      inputs: inputs(job, { 'save-local-cache': 'false' }),
      env: env(),
    });
    expect(main.exitCode, main.stdout).toBe(0);
    expect(main.outputs['cache-hit']).toBe('true');
    expect(main.outputs['matched-key']).toBe('build-linux-v1');
    const expected = join(job.root, 'expected');
    writeWorkspaceTree(expected, 200);
    expect(readTree(join(job.workspace, 'out'))).toEqual(readTree(expected));
    const post = await runAction('post', { after: main, env: env() });
    expect(post.exitCode).toBe(0);
    expect(post.summary).toContain('exact hit and nothing changed');
  });

  it('restore-links stages restored files as read-only hard links into the local cache', async () => {
    const job = newJob();
    const main = await runAction('main', {
      job,
      inputs: inputs(job, { 'save-local-cache': 'false', 'restore-links': 'true' }),
      env: env(),
    });
    expect(main.outputs['cache-hit']).toBe('true');
    const file = join(job.workspace, 'out', 'd1', 'sub1', 'f1.txt');
    expect(statSync(file).nlink).toBeGreaterThan(1);
    expect(statSync(file).mode & 0o222).toBe(0);
    expect((await runAction('post', { after: main, env: env() })).summary).toContain(
      'exact hit and nothing changed',
    );
  });

  it('after changing 1% of files, uploads only the changed blobs', async () => {
    const job = newJob();
    const before = countObjects(remote.cacheDir);
    const { post } = await runJob(
      job,
      (ws) => {
        for (const i of [3, 77])
          appendFileSync(join(ws, 'out', `d${i % 7}`, `sub${i % 3}`, `f${i}.txt`), 'changed');
      },
      { inputs: { key: 'build-linux-v2' } },
    );
    // Two files, their two parent Directories, two grandparents, the root Directory.
    const gained = countObjects(remote.cacheDir) - before;
    expect(gained).toBeGreaterThanOrEqual(2);
    expect(gained).toBeLessThanOrEqual(9);
    // The restore key's tree on the remote vouches for the unchanged blobs: only the changed
    // files and the Directories above them (and a spot-check sample) are asked about.
    const row = post.summary.match(
      /Blobs checked \/ missing on remote \/ uploaded<\/td><td>(\d+) \/ [2-9] \/ [2-9] \((\d+) more known present\)</,
    );
    expect(row, post.summary).not.toBeNull();
    expect(Number(row![1])).toBeLessThan(100);
    expect(Number(row![2])).toBeGreaterThan(0);
    expect(post.summary).toContain('partial match');
    // The README's example summary is this run's (regenerate with CASD_ACTION_EXAMPLE_SUMMARY=path).
    if (process.env.CASD_ACTION_EXAMPLE_SUMMARY)
      writeFileSync(process.env.CASD_ACTION_EXAMPLE_SUMMARY, post.summary);
  });

  it('a pull request from a fork pushes nothing', async () => {
    const job = newJob();
    const event = join(job.root, 'event.json');
    writeFileSync(
      event,
      JSON.stringify({
        pull_request: {
          head: { repo: { full_name: 'fork/repo' } },
          base: { repo: { full_name: 'octo/repo' } },
        },
      }),
    );
    const before = countObjects(remote.cacheDir);
    const { post } = await runJob(job, (ws) => writeWorkspaceTree(join(ws, 'out'), 20, 'fork'), {
      inputs: { key: 'fork-pr', 'save-local-cache': 'false' },
      env: { GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: event },
    });
    expect(countObjects(remote.cacheDir)).toBe(before);
    expect(post.stdout).toContain('Pushing is off');
  });

  it('a failed job pushes blobs but does not commit refs', async () => {
    api.conclusion = 'failure';
    try {
      const job = newJob();
      const before = countObjects(remote.cacheDir);
      const { post } = await runJob(job, (ws) => writeWorkspaceTree(join(ws, 'out'), 10, 'failed'), {
        inputs: { key: 'failed-job', 'save-local-cache': 'false' },
      });
      expect(countObjects(remote.cacheDir)).toBeGreaterThan(before);
      expect(post.summary).toContain('not committed');
      expect(post.summary).toContain('the job failed and save-refs is on-success');
      // The next job finds no ref for that key.
      const next = newJob();
      const main = await runAction('main', {
        job: next,
        inputs: inputs(next, { key: 'failed-job', 'restore-keys': '', 'save-local-cache': 'false' }),
        env: env(),
      });
      expect(main.outputs['cache-hit']).toBe('false');
    } finally {
      api.conclusion = 'success';
    }
  });

  it('a remote that is down costs a warning, not the job', async () => {
    const job = newJob();
    const port = await freePort();
    const { main, post } = await runJob(job, (ws) => writeWorkspaceTree(join(ws, 'out'), 5, 'down'), {
      inputs: {
        remote: `grpc://127.0.0.1:${port}`,
        key: 'down',
        'save-local-cache': 'false',
        'restore-timeout': '20s',
        'save-timeout': '20s',
      },
    });
    expect(main.commands.some((c) => c.command === 'warning')).toBe(true);
    expect(post.summary).toContain('is unavailable');
  });

  it('with a remote and the default save-local-cache, nothing goes to the Actions cache', async () => {
    const requests = (): number => Object.values(cache.stats.requests).reduce((sum, n) => sum + (n ?? 0), 0);
    const [entries, before] = [cache.stats.entriesCreated, requests()];
    const { main } = await runJob(newJob(), (ws) => writeWorkspaceTree(join(ws, 'out'), 10, 'auto'), {
      inputs: { key: 'auto-with-remote', 'restore-keys': '' },
    });
    expect(main.inputs['save-local-cache']).toBeUndefined();
    expect(cache.stats.entriesCreated).toBe(entries);
    expect(requests()).toBe(before);
  });

  it('a version outside the table without casd-sha256 installs with a warning naming casd-sha256', async () => {
    const job = newJob();
    const main = await runAction('main', {
      job,
      inputs: inputs(job, { 'casd-sha256': '', 'save-local-cache': 'false' }),
      env: env(),
    });
    expect(main.exitCode, main.stdout).toBe(0);
    const warnings = main.commands.filter((c) => c.command === 'warning').map((c) => c.message);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("buildbox 1.4.30 is not in the action's table of release checksums");
    expect(warnings[0]).toContain(`pass that as casd-sha256`);
    expect(warnings[0]).toContain(`Its SHA-256 is ${release.sha256}`);
    expect((await runAction('post', { after: main, env: env() })).exitCode).toBe(0);
  });

  it('a bad checksum fails the main step with a clear message', async () => {
    const job = newJob();
    const main = await runAction('main', {
      job,
      inputs: inputs(job, { 'casd-sha256': '0'.repeat(64) }),
      env: env(),
    });
    expect(main.exitCode).toBe(1);
    const error = main.commands.find((c) => c.command === 'error');
    expect(error?.message).toMatch(/casd-sha256 mismatch .* expected 0{64}/);
    expect(main.stdout).not.toMatch(/^\s+at /m);
  });

  it('restores the local cache from the Actions cache without a remote', async () => {
    const first = newJob();
    await runJob(first, (ws) => writeWorkspaceTree(join(ws, 'out'), 30, 'local'), {
      inputs: { remote: '', key: 'local-only', 'restore-keys': '' },
    });
    const second = newJob();
    mkdirSync(second.workspace, { recursive: true });
    const main = await runAction('main', {
      job: second,
      inputs: inputs(second, { remote: '', key: 'local-only', 'restore-keys': '' }),
      env: env(),
    });
    expect(main.exitCode, main.stdout).toBe(0);
    expect(main.outputs['cache-hit']).toBe('true');
    const expected = join(second.root, 'expected');
    writeWorkspaceTree(expected, 30, 'local');
    expect(readTree(join(second.workspace, 'out'))).toEqual(readTree(expected));
    rmSync(join(second.workspace, 'out'), { recursive: true });
    const post = await runAction('post', { after: main, env: env() });
    expect(post.exitCode).toBe(0);
  });

  it('persists the local cache through the GHES (v1) cache protocol too', async () => {
    const v1 = (extra: Record<string, string> = {}) => ({ ...env(extra), ...cache.envV1 });
    const first = newJob();
    const main1 = await runAction('main', {
      job: first,
      inputs: inputs(first, { remote: '', key: 'ghes', 'restore-keys': '' }),
      env: v1(),
    });
    expect(main1.exitCode, main1.stdout).toBe(0);
    writeWorkspaceTree(join(first.workspace, 'out'), 15, 'ghes');
    const post1 = await runAction('post', { after: main1, env: v1() });
    expect(post1.exitCode, post1.stdout).toBe(0);
    const second = newJob();
    const main2 = await runAction('main', {
      job: second,
      inputs: inputs(second, { remote: '', key: 'ghes', 'restore-keys': '' }),
      env: v1(),
    });
    expect(main2.outputs['cache-hit']).toBe('true');
    expect(Object.keys(readTree(join(second.workspace, 'out')))).toHaveLength(15);
    expect((await runAction('post', { after: main2, env: v1() })).exitCode).toBe(0);
  });
});
