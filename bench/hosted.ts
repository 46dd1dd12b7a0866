/**
 * `npm run bench:hosted`: casd-action against actions/cache as users run them on GitHub-hosted
 * runners, job by job, each job on a fresh runner. Options:
 *   --files N    files in the tree (default 10000); --large is --files 100000
 *   --work DIR   scratch directory (default $TMPDIR/casd-bench-hosted, emptied first, removed after)
 *   --profile DIR  casd-action's steps write V8 CPU profiles there (job-step-N.cpuprofile)
 * Writes bench/results/hosted.{json,md} (or `--out NAME`: NAME.{json,md}) and prints the table.
 *
 * casd-action: the bundled steps dist/main/index.js and dist/post/index.js, run by
 * __tests__/helpers/runner.ts with Node 24 as the runner runs them (INPUT_*, file commands,
 * STATE_*), inputs `path: tree`, `key`, `restore-keys`, `casd-path` (the installed casd: the
 * install is not part of any step's time). actions/cache: its restore and save steps as the
 * action runs them with @actions/cache 6 (bench/hosted-actions-cache.ts), through the same
 * helper, so with the same runner environment. Every job gets a fresh runner: new workspace,
 * RUNNER_TEMP, tool cache and HOME (so a fresh ~/.cache/casd-action); only the Actions cache
 * emulator (and, for the second round, the remote casd) outlive a job, as on hosted runners.
 *
 * Jobs, the same workflow each time (key bench-tree-1, then bench-tree-2; restore-keys
 * bench-tree-): (1) first save: main misses, the build writes the tree, post saves; (2) restore:
 * main hits the key, post has nothing to save; (3) main restores bench-tree-1 through the restore
 * key, the build changes 1% of the files, post saves bench-tree-2; (4) restore of bench-tree-2.
 * Before each job the disk is synced, as a fresh runner has no writeback pending, and nothing
 * is deleted until the bench ends (bench/trash.ts: this VM's journal-less ext4 makes every
 * file created in the minutes after a deletion slower, which a fresh runner never pays).
 * Then jobs 1-4 again for casd-action with `remote` (a second casd on loopback behind a byte
 * counting proxy); the actions/cache side of that round is the first round's (what a user
 * would pick instead of a remote).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import locateCasd from '../__tests__/helpers/global-setup.js';
import {
  type ActionsCacheEmulator,
  type Operation,
  startActionsCacheEmulator,
} from '../__tests__/helpers/actions-cache/index.js';
import {
  type ActionRun,
  type RunActionOptions,
  type RunnerJob,
  REPO_ROOT,
  createRunnerJob,
  runAction,
  runnerPath,
} from '../__tests__/helpers/runner.js';
import { CasdDaemon } from '../src/casd/index.js';
import {
  CountingProxy,
  Progress,
  mb,
  ms,
  sampleTreesRss,
  benchArgs,
  machineFacts,
  writeResults,
} from './measure.js';
import { Trash } from './trash.js';
import { type GeneratedTree, changeFiles, generateTree } from './tree.js';

/**
 * The model, in one place. Source of the Actions cache figures: "GitHub Actions cache service
 * measured from hosted runners, 2026: uploads ~84 MB/s; downloads ~23 MB/s a stream, ~52 MB/s
 * with 8 parallel ranges; 220-320 ms per request". The remote: 100 MB/s each way, and no
 * latency per request beyond what the loopback proxy measured (its calls are in the wall time).
 * MB = 10^6 bytes.
 */
const MODEL = {
  source:
    'GitHub Actions cache service measured from hosted runners, 2026: uploads ~84 MB/s; downloads ~23 MB/s a stream, ~52 MB/s with 8 parallel ranges; 220-320 ms per request',
  /** Per cache-service request (the middle of 220-320 ms). */
  requestSeconds: 0.27,
  uploadMBps: 84,
  /** A download of 8 parallel ranges (what @actions/cache does on github.com: see downloadPath). */
  downloadParallelMBps: 52,
  /** A single-stream download. */
  downloadStreamMBps: 23,
  /** The remote CAS, bytes sent plus received. */
  remoteMBps: 100,
} as const;

const KEY_1 = 'bench-tree-1';
const KEY_2 = 'bench-tree-2';
const RESTORE_KEYS = 'bench-tree-';
const TREE = 'tree';
/** The runner name the jobs API stub reports the job on (the post step finds its job by it). */
const RUNNER_NAME = 'hosted-bench';
/** A step that takes longer than this is killed (a guard against hangs, not a timing). */
const STEP_KILL_MS = 60 * 60_000;

const { files, work, flag } = benchArgs(join(tmpdir(), 'casd-bench-hosted'));
// --out NAME: write bench/results/NAME.{json,md} (the 100,000-file run beside the default one).
const outName = flag('--out') ?? 'hosted';
const profileDir = flag('--profile');
// --rounds N: the whole sequence N times (each round on an emptied cache service and a new
// remote, the sides' order alternating), reported as each cell's median round: file creation on
// this VM varies several-fold between runs of the same command (BENCHMARKS.md), more than the
// effects measured.
const rounds = Number(flag('--rounds') ?? 1);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`--rounds must be a whole number >= 1, got ${flag('--rounds')}`);
const here = import.meta.dirname;

type Side = 'casd-action' | 'actions/cache';
type Variant = 'actions-cache' | 'remote';

interface ServiceCounts {
  requests: Partial<Record<Operation, number>>;
  total: number;
  bytesUp: number;
  bytesDown: number;
}

interface StepResult {
  /** Spawn to exit. */
  ms: number;
  /** Cache-service requests and archive bytes (EmulatorStats). */
  service: ServiceCounts;
  /** Bytes through the counting proxy in front of the remote casd. */
  remote: { sent: number; received: number };
  /** Requests to the GitHub REST API (the jobs API: casd-action's post reads the job status). */
  apiRequests: number;
  /** Peak summed RSS of the step's process tree (and of the daemon main left running). */
  peakRss: number;
  /** That peak by process: `node 250.1 MB + buildbox-casd 60.2 MB`. */
  peakParts: string;
  modelledMs: number;
  warnings: string[];
}

interface JobResult {
  /** Which round of --rounds (0 first). */
  round: number;
  job: number;
  name: string;
  side: Side;
  variant: Variant;
  main: StepResult;
  post: StepResult;
  totalMs: number;
  modelledMs: number;
  peakRss: number;
  peakParts: string;
  service: ServiceCounts;
  remote: { sent: number; received: number };
  apiRequests: number;
  cacheHit: string;
  matchedKey: string;
  /** casd-action: the phase times its job summary reports (ms). */
  phases?: Record<string, number>;
  /** casd-action: each phase's peak RSS of the step's Node process (its debug log), bytes. */
  phasePeaks?: Record<string, number>;
}

interface JobSpec {
  job: number;
  name: string;
  key: string;
  /** What the job's build step does between main and post. */
  build: 'write the tree' | 'change 1% of the files' | 'nothing';
  expectHit: boolean;
  expectMatched: string;
  /** The tree main must have restored (digest), when it restores one. */
  expectTree?: () => string;
}

/** Which download path @actions/cache takes on github.com, read from the library itself. */
function downloadPath(): { parallel: boolean; detail: string } {
  const lib = join(REPO_ROOT, 'node_modules', '@actions', 'cache', 'lib');
  const read = (path: string): string => readFileSync(join(lib, path), 'utf8');
  const cache = read('cache.js');
  const client = read('internal/cacheHttpClient.js');
  const utils = read('internal/downloadUtils.js');
  const options = read('options.js');
  const v2 = cache.slice(cache.indexOf('function restoreCacheV2'));
  const forcesSdk = /useAzureSdk: true/.test(v2.slice(0, v2.indexOf('getCacheVersion')));
  const azureSdk = /blob\.core\.windows\.net[\s\S]*?useAzureSdk[\s\S]*?downloadCacheStorageSDK/.test(client);
  const ranged = /downloadToBuffer\([\s\S]*?concurrency: options\.downloadConcurrency/.test(utils);
  const concurrency = /downloadConcurrency: (\d+)/.exec(options)?.[1];
  const parallel = forcesSdk && azureSdk && ranged;
  const detail = parallel
    ? `parallel ranges: restoreCacheV2 (cache.js) forces useAzureSdk, and downloadCache (cacheHttpClient.js) sends a *.blob.core.windows.net URL with useAzureSdk to downloadCacheStorageSDK (downloadUtils.js), which fetches 128 MB segments with BlockBlobClient.downloadToBuffer at concurrency downloadConcurrency (default ${concurrency}); both sides use this path (casd-action bundles the same @actions/cache). The emulator's own download URL is not on blob.core.windows.net, so on loopback the library reads it as one stream (plain GET)`
    : 'single stream: the library checks did not find the parallel (Azure SDK, ranged) path for v2 downloads';
  return { parallel, detail };
}

/** A digest of a tree: every path, its type, the executable bit, file contents, link targets. */
function treeDigest(root: string): string {
  const hash = createHash('sha256');
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(root, path);
      const info = lstatSync(full);
      if (info.isSymbolicLink()) hash.update(`l ${path} ${readlinkSync(full)}\n`);
      else if (info.isDirectory()) {
        hash.update(`d ${path}\n`);
        walk(path);
      } else {
        const content = createHash('sha256').update(readFileSync(full)).digest('hex');
        hash.update(`f ${path} ${(info.mode & 0o111) !== 0 ? 'x' : '-'} ${content}\n`);
      }
    }
  };
  walk('');
  return hash.digest('hex');
}

/**
 * A stand-in for the jobs API (the post step reads the job's status there): success, answered
 * after the model's request latency for real, since the post step overlaps that read with its
 * capture (a latency added afterwards could not tell); counts.
 */
async function startJobsApi(): Promise<{ url: string; requests: number; close(): Promise<void> }> {
  const state = { url: '', requests: 0, close: async () => {} };
  const server = createServer((req, res) => {
    state.requests++;
    if (!req.url?.includes('/actions/runs/')) return void res.writeHead(404).end();
    setTimeout(
      () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            jobs: [
              {
                id: 1,
                name: 'build',
                runner_name: RUNNER_NAME,
                status: 'in_progress',
                steps: [{ name: 'build', status: 'completed', conclusion: 'success' }],
              },
            ],
          }),
        ),
      MODEL.requestSeconds * 1000,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

function snapshot(emulator: ActionsCacheEmulator): ServiceCounts {
  const requests = { ...emulator.stats.requests };
  const total = Object.values(requests).reduce((a, b) => a + (b ?? 0), 0);
  return {
    requests,
    total,
    bytesUp: emulator.stats.bytesUploaded,
    bytesDown: emulator.stats.bytesDownloaded,
  };
}

function difference(after: ServiceCounts, before: ServiceCounts): ServiceCounts {
  const requests: Partial<Record<Operation, number>> = {};
  for (const [op, count] of Object.entries(after.requests) as [Operation, number][]) {
    const delta = count - (before.requests[op] ?? 0);
    if (delta > 0) requests[op] = delta;
  }
  return {
    requests,
    total: after.total - before.total,
    bytesUp: after.bytesUp - before.bytesUp,
    bytesDown: after.bytesDown - before.bytesDown,
  };
}

function sum(a: ServiceCounts, b: ServiceCounts): ServiceCounts {
  const requests: Partial<Record<Operation, number>> = { ...a.requests };
  for (const [op, count] of Object.entries(b.requests) as [Operation, number][])
    requests[op] = (requests[op] ?? 0) + count;
  return {
    requests,
    total: a.total + b.total,
    bytesUp: a.bytesUp + b.bytesUp,
    bytesDown: a.bytesDown + b.bytesDown,
  };
}

const downloads = downloadPath();
const downloadMBps = downloads.parallel ? MODEL.downloadParallelMBps : MODEL.downloadStreamMBps;

/**
 * Local wall time + cache-service requests x latency + bytes / bandwidth (see MODEL). The jobs
 * API's latency is in the wall time already (startJobsApi).
 */
function modelled(step: Omit<StepResult, 'modelledMs'>): number {
  return (
    step.ms +
    step.service.total * MODEL.requestSeconds * 1000 +
    (step.service.bytesUp / (MODEL.uploadMBps * 1e6)) * 1000 +
    (step.service.bytesDown / (downloadMBps * 1e6)) * 1000 +
    ((step.remote.sent + step.remote.received) / (MODEL.remoteMBps * 1e6)) * 1000
  );
}

/** Whether `pid` still runs (a zombie, which our pid 1 may reap late, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** casd-action's phase times, as its post step put them in the job summary ("Time: x"). */
function summaryPhases(summary: string): Record<string, number> {
  const phases: Record<string, number> = {};
  for (const match of summary.matchAll(/<td>Time: ([^<]+)<\/td><td>([\d.]+) s<\/td>/g))
    phases[match[1]] = Math.round(Number(match[2]) * 1000);
  return phases;
}

/** The peak RSS report.ts's timed logs at debug level for each phase (`capture: 12 ms, peak RSS 1.2 MB`). */
function phasePeaks(runs: ActionRun[]): Record<string, number> {
  const units: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 };
  const peaks: Record<string, number> = {};
  for (const command of runs.flatMap((run) => run.commands)) {
    const match = /^(.+): \d+ ms, peak RSS ([\d.]+) (B|kB|MB|GB)$/.exec(command.message);
    if (command.command !== 'debug' || !match) continue;
    peaks[match[1]] = Math.max(peaks[match[1]] ?? 0, Number(match[2]) * units[match[3]]);
  }
  return peaks;
}

async function main(): Promise<void> {
  const began = Date.now();
  locateCasd();
  const casd = process.env.BUILDBOX_CASD as string;
  rmSync(work, { recursive: true, force: true });
  const runners = join(work, 'runners');
  mkdirSync(runners, { recursive: true });
  const trash = new Trash(join(work, 'trash'));
  const source = join(work, 'source', TREE);
  const progress = new Progress(1 + 12 * rounds);

  progress.begin(`generating ${files} files`);
  const generated: GeneratedTree = generateTree(source, files, 1);
  const digestV1 = treeDigest(source);
  progress.end();
  let digestV2: string | undefined;
  let changed: { files: number; bytes: number } | undefined;

  const emulator = await startActionsCacheEmulator();
  const api = await startJobsApi();
  let remoteDaemon: CasdDaemon | undefined;
  let proxy: CountingProxy | undefined;
  // The runner's Actions cache variables; each job has its own RUNNER_TEMP (the helper's).
  const cacheEnv = Object.fromEntries(
    Object.entries(emulator.env).filter(([name, value]) => name !== 'RUNNER_TEMP' && value !== ''),
  );
  const results: JobResult[] = [];
  const daemonsLeft: number[] = [];
  /** The 1-minute load average at each job's start (other work on the machine skews times). */
  const loads: number[] = [];

  const freshRunner = (): RunnerJob => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = runners;
    try {
      return createRunnerJob();
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  };

  /** Runs one step, measuring it; `daemon` gives the pid of a daemon an earlier step left. */
  const step = async (
    entry: 'main' | 'post',
    options: RunActionOptions,
    daemon: () => number | undefined,
  ): Promise<{ run: ActionRun; result: StepResult }> => {
    const before = snapshot(emulator);
    const apiBefore = api.requests;
    proxy?.reset();
    let pid: number | undefined;
    let spawned = 0n;
    const sampler = sampleTreesRss(() => [pid, daemon()].filter((p): p is number => p !== undefined));
    const run = await runAction(entry, {
      ...options,
      killAfterMs: STEP_KILL_MS,
      onSpawn: (p) => {
        pid = p;
        spawned = process.hrtime.bigint();
      },
    });
    const elapsed = Number(process.hrtime.bigint() - spawned) / 1e6;
    const peakRss = sampler.stop();
    const peakParts = sampler.peakParts();
    if (run.exitCode !== 0) {
      throw new Error(
        `${entry} step exited ${run.exitCode ?? run.signal}:\n${run.stdout.slice(-6000)}\n${run.stderr.slice(-3000)}`,
      );
    }
    const measured = {
      ms: elapsed,
      service: difference(snapshot(emulator), before),
      remote: { sent: proxy?.sent ?? 0, received: proxy?.received ?? 0 },
      apiRequests: api.requests - apiBefore,
      peakRss,
      peakParts,
      warnings: run.commands
        .filter((c) => c.command === 'warning' || c.command === 'error')
        .map((c) => `${c.command}: ${c.message}`),
    };
    return { run, result: { ...measured, modelledMs: modelled(measured) } };
  };

  let round = 0;
  const runJob = async (side: Side, variant: Variant, spec: JobSpec): Promise<JobResult> => {
    progress.begin(
      `${rounds > 1 ? `round ${round + 1}: ` : ''}${variant === 'remote' ? 'with a remote: ' : ''}job ${spec.job} (${spec.name}), ${side}`,
    );
    // A fresh runner's disk has no writeback pending: the jobs before this one wrote (and
    // removed) gigabytes, which the kernel would otherwise still be flushing during this job.
    await trash.makeRoom((wait) =>
      process.stderr.write(
        `emptied the trash for disk space; waiting ${wait / 1000} s for the kernel to reuse its inodes\n`,
      ),
    );
    execFileSync('sync');
    loads.push(Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
    const runner = freshRunner();
    const home = join(runner.root, 'home');
    mkdirSync(home);
    const tree = join(runner.workspace, TREE);
    let daemonPid: number | undefined;
    try {
      const env: Record<string, string> = {
        ...cacheEnv,
        HOME: home,
        PATH: runnerPath(),
        RUNNER_NAME,
        GITHUB_RUN_ID: String(100 + results.length),
        GITHUB_API_URL: api.url,
      };
      const common: RunActionOptions =
        side === 'casd-action'
          ? {
              env,
              ...(profileDir
                ? {
                    nodeArgs: [
                      '--cpu-prof',
                      `--cpu-prof-dir=${join(profileDir, `${variant}-job-${spec.job}`)}`,
                    ],
                  }
                : {}),
            }
          : {
              env,
              script: join(here, 'hosted-actions-cache.ts'),
              nodeArgs: ['--no-warnings'],
              useActionDefaults: false,
            };
      const inputs: Record<string, string> =
        side === 'casd-action'
          ? {
              'casd-path': casd,
              path: TREE,
              key: spec.key,
              'restore-keys': RESTORE_KEYS,
              // The runner passes github.token; the post step reads the job status with it.
              'github-token': 'ghs_bench',
              ...(variant === 'remote' ? { remote: `grpc://127.0.0.1:${proxy!.port}` } : {}),
            }
          : { path: TREE, key: spec.key, 'restore-keys': RESTORE_KEYS };
      const main = await step(
        'main',
        { ...common, job: runner, inputs, args: side === 'actions/cache' ? ['restore'] : [] },
        () => undefined,
      );
      const hit = main.run.outputs['cache-hit'] ?? '';
      const matched = main.run.outputs['cache-matched-key'] ?? '';
      if (hit !== String(spec.expectHit) || matched !== spec.expectMatched) {
        throw new Error(
          `${side} job ${spec.job}: main gave cache-hit=${hit} matched=${matched}, expected ${spec.expectHit} ${spec.expectMatched}:\n${main.run.stdout.slice(-4000)}`,
        );
      }
      if (spec.expectTree && treeDigest(tree) !== spec.expectTree()) {
        throw new Error(`${side} job ${spec.job}: the restored ${TREE} differs from the saved one`);
      }
      if (side === 'casd-action') {
        const state = JSON.parse(main.run.state['casd-main'] ?? '{}') as { daemon?: { pid?: number } };
        daemonPid = state.daemon?.pid;
      }

      // The job's build step.
      if (spec.build === 'write the tree') execFileSync('cp', ['-a', source, tree]);
      if (spec.build === 'change 1% of the files') {
        const done = changeFiles({ ...generated, root: tree }, 0.01, 2);
        const digest = treeDigest(tree);
        if (digestV2 === undefined) {
          digestV2 = digest;
          changed = done;
        } else if (digest !== digestV2) throw new Error(`${side} job ${spec.job}: the change differs`);
      }

      const post = await step(
        'post',
        { ...common, after: main.run, args: side === 'actions/cache' ? ['save'] : [] },
        () => daemonPid,
      );
      if (daemonPid !== undefined && alive(daemonPid)) {
        daemonsLeft.push(daemonPid);
        process.kill(daemonPid, 'SIGTERM');
      }
      const result: JobResult = {
        round,
        job: spec.job,
        name: spec.name,
        side,
        variant,
        main: main.result,
        post: post.result,
        totalMs: main.result.ms + post.result.ms,
        modelledMs: main.result.modelledMs + post.result.modelledMs,
        peakRss: Math.max(main.result.peakRss, post.result.peakRss),
        peakParts:
          main.result.peakRss >= post.result.peakRss
            ? `main: ${main.result.peakParts}`
            : `post: ${post.result.peakParts}`,
        service: sum(main.result.service, post.result.service),
        remote: {
          sent: main.result.remote.sent + post.result.remote.sent,
          received: main.result.remote.received + post.result.remote.received,
        },
        apiRequests: main.result.apiRequests + post.result.apiRequests,
        cacheHit: hit,
        matchedKey: matched,
        phases: side === 'casd-action' ? summaryPhases(post.run.summary) : undefined,
        phasePeaks: side === 'casd-action' ? phasePeaks([main.run, post.run]) : undefined,
      };
      results.push(result);
      return result;
    } finally {
      trash.put(runner.root);
      progress.end();
    }
  };

  const jobs: JobSpec[] = [
    {
      job: 1,
      name: 'first save',
      key: KEY_1,
      build: 'write the tree',
      expectHit: false,
      expectMatched: '',
    },
    {
      job: 2,
      name: 'restore',
      key: KEY_1,
      build: 'nothing',
      expectHit: true,
      expectMatched: KEY_1,
      expectTree: () => digestV1,
    },
    {
      job: 3,
      name: 'save after changing 1% of the files',
      key: KEY_2,
      build: 'change 1% of the files',
      expectHit: false,
      expectMatched: KEY_1,
      expectTree: () => digestV1,
    },
    {
      job: 4,
      name: 'restore of the new key',
      key: KEY_2,
      build: 'nothing',
      expectHit: true,
      expectMatched: KEY_2,
      expectTree: () => digestV2 as string,
    },
  ];

  try {
    for (round = 0; round < rounds; round++) {
      // Each round starts as the first did: no entry in the cache service, an empty remote.
      for (const key of new Set(emulator.entries().map((e) => e.key))) emulator.evict(key);
      const sides: Side[] =
        round % 2 === 0 ? ['casd-action', 'actions/cache'] : ['actions/cache', 'casd-action'];
      for (const spec of jobs) for (const side of sides) await runJob(side, 'actions-cache', spec);
      await proxy?.close();
      await remoteDaemon?.stop();
      const remoteDir = join(work, 'remote');
      trash.put(remoteDir);
      remoteDaemon = await CasdDaemon.start({
        binary: casd,
        cacheDir: remoteDir,
        reservedBytes: 0,
        listen: '127.0.0.1:0',
      });
      const port = Number(new URL((remoteDaemon.toState().grpcUrl as string).replace('grpc:', 'http:')).port);
      proxy = await CountingProxy.start(port);
      for (const spec of jobs) await runJob('casd-action', 'remote', spec);
    }

    const report: HostedReport = {
      date: new Date().toISOString(),
      durationMs: Date.now() - began,
      machine: machineFacts(),
      casd,
      model: { ...MODEL, downloadMBps, downloadPath: downloads.detail },
      tree: {
        files,
        bytes: generated.bytes,
        symlinks: generated.symlinks,
        directories: generated.directories.length,
      },
      changed: changed as { files: number; bytes: number },
      daemonsLeft,
      loadAverages: loads,
      trashEmptiedEarly: trash.emptiedEarly,
      rounds,
      results,
    };
    const text = renderHosted(report);
    writeResults(outName, report, text);
    process.stdout.write(text);
  } finally {
    await proxy?.close();
    await remoteDaemon?.stop();
    await api.close();
    await emulator.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

interface HostedReport {
  date: string;
  durationMs: number;
  machine: Record<string, unknown>;
  casd: string;
  model: typeof MODEL & { downloadMBps: number; downloadPath: string };
  tree: { files: number; bytes: number; symlinks: number; directories: number };
  changed: { files: number; bytes: number };
  daemonsLeft: number[];
  loadAverages: number[];
  /** Times the deferred deletions had to run before the end (each then waited out). */
  trashEmptiedEarly: number;
  rounds: number;
  /** Every job of every round. */
  results: JobResult[];
}

const SHORT: Record<Operation, string> = {
  CreateCacheEntry: 'create',
  FinalizeCacheEntryUpload: 'finalize',
  GetCacheEntryDownloadURL: 'get',
  download: 'download',
  'v1.getCacheEntry': 'v1 get',
  'v1.listCaches': 'v1 list',
  'v1.reserveCache': 'v1 reserve',
  'v1.uploadChunk': 'v1 chunk',
  'v1.commitCache': 'v1 commit',
};

function requestsText(service: ServiceCounts, api: number): string {
  const ops = (Object.entries(service.requests) as [Operation, number][]).map(
    ([op, n]) => `${SHORT[op]} ${n}`,
  );
  const text = ops.length ? `${service.total} (${ops.join(', ')})` : '0';
  return api > 0 ? `${text} + ${api} jobs API` : text;
}

const ratio = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(2) : '—');

/** The middle value (the lower middle of an even count). */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** One round's result for a job, or with `round` undefined the round of median modelled time. */
function findResult(
  results: JobResult[],
  side: Side,
  variant: Variant,
  job: number,
  round?: number,
): JobResult {
  const all = results.filter(
    (r) =>
      r.side === side && r.variant === variant && r.job === job && (round === undefined || r.round === round),
  );
  if (all.length === 0) throw new Error(`no result for ${side} ${variant} job ${job}`);
  const middle = median(all.map((r) => r.modelledMs));
  return all.find((r) => r.modelledMs === middle) as JobResult;
}

interface TargetValue {
  label: string;
  limit: number;
  value: number;
  detail: string;
}

/** The issue's targets, from one round's results. */
function targetsOf(results: JobResult[], round: number): TargetValue[] {
  const find = (side: Side, variant: Variant, job: number): JobResult =>
    findResult(results, side, variant, job, round);
  const jobRatio = (label: string, limit: number, variant: Variant, job: number): TargetValue => {
    const c = find('casd-action', variant, job);
    const a = find('actions/cache', 'actions-cache', job);
    return {
      label,
      limit,
      value: c.modelledMs / a.modelledMs,
      detail: `${ms(c.modelledMs)} / ${ms(a.modelledMs)}, whole job`,
    };
  };
  const c3 = find('casd-action', 'actions-cache', 3).post;
  const a3 = find('actions/cache', 'actions-cache', 3).post;
  const peak = (side: Side): number =>
    Math.max(...results.filter((r) => r.side === side && r.round === round).map((r) => r.peakRss));
  return [
    jobRatio('restore on a fresh runner (job 2)', 0.8, 'actions-cache', 2),
    jobRatio('first save (job 1)', 1.0, 'actions-cache', 1),
    {
      label: 'save after 1% change (job 3, the post step)',
      limit: 0.15,
      value: c3.modelledMs / a3.modelledMs,
      detail: `${ms(c3.modelledMs)} / ${ms(a3.modelledMs)}`,
    },
    jobRatio('with a remote: first push (job 1)', 1.0, 'remote', 1),
    jobRatio('with a remote: restore (job 2)', 1.0, 'remote', 2),
    {
      label: 'peak memory (highest of any job)',
      limit: 1.5,
      value: peak('casd-action') / peak('actions/cache'),
      detail: `${mb(peak('casd-action'))} / ${mb(peak('actions/cache'))}`,
    },
  ];
}

function renderHosted(report: HostedReport): string {
  const { model, tree } = report;
  const rounds = report.rounds ?? 1;
  const find = (side: Side, variant: Variant, job: number): JobResult =>
    findResult(report.results, side, variant, job);
  // The rows shown: each job's median round (all of them with one round).
  const shown = report.results.filter((r) => find(r.side, r.variant, r.job) === r);
  const lines: string[] = [
    `# casd-action vs actions/cache on fresh hosted-style runners`,
    '',
    `Tree: ${tree.files} files, ${mb(tree.bytes)}, ${tree.directories} directories, ${tree.symlinks} symlinks; the 1% change rewrites ${report.changed.files} files (${mb(report.changed.bytes)}). Run ${report.date}; the whole bench took ${ms(report.durationMs)}. ${report.machine.cpus} CPUs, Node ${report.machine.node} (the steps: Node 24); 1-minute load average at the jobs' starts ${Math.min(...report.loadAverages).toFixed(1)}-${Math.max(...report.loadAverages).toFixed(1)}. Deletions deferred to the bench's end (bench/trash.ts)${report.trashEmptiedEarly ? `, except ${report.trashEmptiedEarly} emptying for disk space, each waited out` : ''}.${rounds > 1 ? ` The whole sequence ran ${rounds} times (--rounds), each repeat on an emptied cache service and a new remote, the sides' order alternating; each row below is that job's repeat of median modelled time, and the targets take the median of the repeats' ratios.` : ''}`,
    '',
    `Each job on a fresh runner (new workspace, RUNNER_TEMP, tool cache, HOME and so ~/.cache/casd-action); shared across jobs: the Actions cache emulator, and for the remote round the remote casd. casd-action: dist/main and dist/post with \`path: ${TREE}\`, \`key\`, \`restore-keys: ${RESTORE_KEYS}\`, \`casd-path\` (casd's install is excluded: it is already on disk, so no step downloads it), defaults otherwise (save-local-cache auto: the Actions cache without a remote, off with one). actions/cache: its restore and save steps with @actions/cache 6.3 (bench/hosted-actions-cache.ts). The remote round's actions/cache figures are the first round's.`,
    '',
    `Modelled time = wall time on loopback + requests × ${model.requestSeconds} s + bytes up / ${model.uploadMBps} MB/s + bytes down / ${model.downloadMBps} MB/s (Actions cache) + remote bytes sent and received / ${model.remoteMBps} MB/s, remote calls at no latency beyond what the proxy measured. Requests: every request the cache service emulator counted (twirp calls and archive downloads; block uploads go to blob storage and are not counted), each at ${model.requestSeconds} s. The jobs API read of casd-action's post step (to tell a successful job) is answered by the stand-in after ${model.requestSeconds} s for real, so its latency is in the wall time, less what the post step overlaps with its capture. Source: "${model.source}". Download path: ${model.downloadPath}.`,
    '',
    '| round | job | side | main | post | total | cache up / down | remote sent / received | requests | peak RSS | modelled main / post / total |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const row = (r: JobResult, round: string): string =>
    `| ${round} | ${r.job}. ${r.name} | ${r.side} | ${ms(r.main.ms)} | ${ms(r.post.ms)} | ${ms(r.totalMs)} | ${mb(r.service.bytesUp)} / ${mb(r.service.bytesDown)} | ${r.variant === 'remote' ? `${mb(r.remote.sent)} / ${mb(r.remote.received)}` : '—'} | ${requestsText(r.service, r.apiRequests)} | ${mb(r.peakRss)} | ${ms(r.main.modelledMs)} / ${ms(r.post.modelledMs)} / ${ms(r.modelledMs)} |`;
  for (const job of [1, 2, 3, 4]) {
    lines.push(row(find('casd-action', 'actions-cache', job), 'Actions cache'));
    lines.push(row(find('actions/cache', 'actions-cache', job), 'Actions cache'));
  }
  for (const job of [1, 2, 3, 4]) lines.push(row(find('casd-action', 'remote', job), 'remote'));
  lines.push(
    '',
    'Ratios casd-action / actions/cache (the remote round against the same actions/cache jobs):',
    '',
    '| round | job | wall total | modelled total | modelled main | modelled post | peak RSS |',
    '|---|---|---|---|---|---|---|',
  );
  for (const variant of ['actions-cache', 'remote'] as const) {
    for (const job of [1, 2, 3, 4]) {
      const c = find('casd-action', variant, job);
      const a = find('actions/cache', 'actions-cache', job);
      lines.push(
        `| ${variant === 'remote' ? 'remote' : 'Actions cache'} | ${job}. ${c.name} | ${ratio(c.totalMs, a.totalMs)} | ${ratio(c.modelledMs, a.modelledMs)} | ${ratio(c.main.modelledMs, a.main.modelledMs)} | ${ratio(c.post.modelledMs, a.post.modelledMs)} | ${ratio(c.peakRss, a.peakRss)} |`,
      );
    }
  }

  const perRound = Array.from({ length: rounds }, (_, round) => targetsOf(report.results, round));
  lines.push(
    '',
    rounds > 1
      ? `Targets: the median of the ${rounds} rounds' ratios (each round's in brackets, in order):`
      : 'Targets:',
    '',
    '| target (modelled time, casd-action / actions/cache) | measured | result |',
    '|---|---|---|',
    ...perRound[0].map((first, i) => {
      const values = perRound.map((targets) => targets[i].value);
      const value = median(values);
      const detail = rounds > 1 ? values.map((v) => `${v.toFixed(2)}x`).join(', ') : first.detail;
      return `| ${first.label} <= ${first.limit.toFixed(2)}x | ${value.toFixed(2)}x (${detail}) | ${value <= first.limit ? 'pass' : 'FAIL'} |`;
    }),
  );
  lines.push(
    '',
    'Peak memory by process (the step with the higher peak; RSS summed by command name):',
    '',
    '| round | job | side | peak RSS | made of |',
    '|---|---|---|---|---|',
    ...shown.map(
      (r) =>
        `| ${r.variant === 'remote' ? 'remote' : 'Actions cache'} | ${r.job}. ${r.name} | ${r.side} | ${mb(r.peakRss)} | ${r.peakParts} |`,
    ),
  );
  lines.push(
    '',
    "casd-action's phases as its job summary reports them (main: install, restore local cache, daemon start, restore refs; post: capture, push, daemon stop, save local cache), each with its step's peak RSS of Node during it (the steps' debug log):",
    '',
    '| round | job | phases |',
    '|---|---|---|',
  );
  for (const r of shown.filter((x) => x.side === 'casd-action')) {
    const phases = Object.entries(r.phases ?? {})
      .map(([name, value]) => {
        const peak = r.phasePeaks?.[name];
        return `${name} ${ms(value)}${peak ? ` (${mb(peak)})` : ''}`;
      })
      .join(', ');
    lines.push(
      `| ${r.variant === 'remote' ? 'remote' : 'Actions cache'} | ${r.job}. ${r.name} | ${phases} |`,
    );
  }
  const warnings = report.results.flatMap((r) =>
    [...r.main.warnings, ...r.post.warnings].map(
      (w) => `- ${r.side}, ${r.variant} round, job ${r.job}: ${w}`,
    ),
  );
  if (warnings.length > 0) lines.push('', 'Warnings the steps printed:', '', ...warnings);
  if (report.daemonsLeft.length > 0)
    lines.push(
      '',
      `casd daemons still running after a post step (then stopped): ${report.daemonsLeft.join(', ')}`,
    );
  lines.push('');
  return lines.join('\n');
}

await main();
