/**
 * `npm run bench`: casd-action against actions/cache's tar+zstd on the same generated tree,
 * the same loopback remote casd and the same Actions cache emulator. Options:
 *   --files N    files in the tree (default 10000); --large is --files 100000
 *   --work DIR   scratch directory (default $TMPDIR/casd-bench, emptied first)
 * Writes bench/results/latest.{json,md} and prints the table.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import locateCasd from '../__tests__/helpers/global-setup.js';
import { startActionsCacheEmulator } from '../__tests__/helpers/actions-cache/index.js';
import { CasdDaemon } from '../src/casd/index.js';
import { CountingProxy, Progress, sampleTreeRss, benchArgs, machineFacts, writeResults } from './measure.js';
import type { Job, JobResult } from './scenario.js';
import { measureMainReady } from './main-ready.js';
import { changeFiles, filesToChange, generateTree } from './tree.js';
import { Trash } from './trash.js';

interface Measured extends JobResult {
  sent: number;
  received: number;
  peakRss: number;
}

const { files, work } = benchArgs(join(tmpdir(), 'casd-bench'));
const here = import.meta.dirname;
const node = process.execPath;

function runChild(script: string, childArgs: string[]): Promise<{ result: JobResult; peakRss: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      node,
      [
        '--no-warnings',
        '--import',
        join(here, 'hooks.mjs'),
        '--experimental-transform-types',
        script,
        ...childArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const sampler = sampleTreeRss(child.pid as number);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => {
      const peakRss = sampler.stop();
      const line = out.split('\n').find((l) => l.startsWith('BENCH-RESULT '));
      if (code !== 0 || !line) {
        reject(
          new Error(
            `${script} ${childArgs.join(' ').slice(0, 200)} failed (${code}):\n${err}\n${out.slice(-2000)}`,
          ),
        );
        return;
      }
      resolve({ result: JSON.parse(line.slice('BENCH-RESULT '.length)) as JobResult, peakRss });
    });
  });
}

async function main(): Promise<void> {
  const casd = (locateCasd(), process.env.BUILDBOX_CASD as string);
  rmSync(work, { recursive: true, force: true });
  const ws = join(work, 'ws');
  const tree = join(ws, 'tree');
  mkdirSync(ws, { recursive: true });
  const progress = new Progress(24);
  // Nothing measured may follow a deletion (bench/trash.ts): what a scenario leaves is moved
  // aside and deleted when the bench ends.
  const trash = new Trash(join(work, 'trash'));

  progress.begin(`generating ${files} files`);
  const generated = generateTree(tree, files, 1);
  progress.end();

  const remotes: CasdDaemon[] = [];
  const proxies: CountingProxy[] = [];
  const freshRemote = async (name: string): Promise<CountingProxy> => {
    const daemon = await CasdDaemon.start({
      binary: casd,
      cacheDir: join(work, name),
      reservedBytes: 0,
      listen: '127.0.0.1:0',
    });
    remotes.push(daemon);
    const port = Number(new URL((daemon.toState().grpcUrl as string).replace('grpc:', 'http:')).port);
    const proxy = await CountingProxy.start(port);
    proxies.push(proxy);
    return proxy;
  };
  const emulator = await startActionsCacheEmulator();
  const url = (proxy: CountingProxy): string => `grpc://127.0.0.1:${proxy.port}`;
  const results = new Map<string, Measured>();

  const run = async (label: string, job: Omit<Job, 'casd'>): Promise<Measured> => {
    progress.begin(label);
    const proxy = proxies.find((p) => job.remoteUrl === url(p));
    proxy?.reset();
    const up = emulator.stats.bytesUploaded;
    const down = emulator.stats.bytesDownloaded;
    const { result, peakRss } = await runChild(join(here, 'scenario.ts'), [
      JSON.stringify({ ...job, casd, env: emulator.env }),
    ]);
    const measured: Measured = {
      ...result,
      peakRss,
      sent: proxy ? proxy.sent : emulator.stats.bytesUploaded - up,
      received: proxy ? proxy.received : emulator.stats.bytesDownloaded - down,
    };
    results.set(label, measured);
    progress.end();
    return measured;
  };
  const emptied = (name: string): string => {
    const dir = join(work, name);
    trash.put(dir);
    return dir;
  };
  // @actions/cache restores to the saved path: move the tree away while a restore runs.
  const withTreeAway = async <T>(body: () => Promise<T>): Promise<T> => {
    renameSync(tree, `${tree}.away`);
    try {
      return await body();
    } finally {
      trash.put(tree);
      renameSync(`${tree}.away`, tree);
    }
  };

  try {
    progress.begin('main step readiness (dist/main with casd installed)');
    const mainReady = await measureMainReady(casd);
    progress.end();

    // Raw casd (CaptureTree + UploadTree) and the library path, both from cold.
    const rawRemote = await freshRemote('remote-raw');
    await run('raw casd: CaptureTree + UploadTree', {
      op: 'casd-raw-save',
      cacheDir: emptied('local-raw'),
      tree,
      remoteUrl: url(rawRemote),
    });
    const remote = await freshRemote('remote');
    const localA = emptied('local-a');
    const cold = await run('casd cold save', {
      op: 'casd-save',
      ref: 'bench',
      cacheDir: localA,
      tree,
      remoteUrl: url(remote),
    });
    await run('tar cold save', { op: 'tar-save', tree, workspace: ws, key: 'k1' });
    const archiveDir = emptied('archive');
    mkdirSync(archiveDir);
    await run('tar archive creation', { op: 'tar-create', tree, workspace: ws, archiveFolder: archiveDir });
    const archiveBytes = statSync(join(archiveDir, 'cache.tzst')).size;

    await run('casd cold restore', {
      op: 'casd-restore',
      cacheDir: emptied('local-b'),
      tree: emptied('restored-b'),
      remoteUrl: url(remote),
      root: cold.root,
    });
    await withTreeAway(() => run('tar cold restore', { op: 'tar-restore', tree, workspace: ws, key: 'k1' }));
    await withTreeAway(() =>
      run('tar extraction', { op: 'tar-extract', tree, workspace: ws, archiveFolder: archiveDir }),
    );
    const restoredW = emptied('restored-w');
    await run('casd warm restore', {
      op: 'casd-warm-restore',
      cacheDir: localA,
      tree: restoredW,
      root: cold.root,
    });
    // The post step of the same job: nothing changed since the restore.
    await run('casd no-op post step after a restore', {
      op: 'casd-post',
      cacheDir: localA,
      tree: restoredW,
      root: cold.root,
      remoteUrl: url(remote),
    });
    await run('casd warm restore, link: true (opt-in)', {
      op: 'casd-warm-restore-link',
      cacheDir: localA,
      tree: emptied('restored-l'),
      root: cold.root,
    });
    trash.put(join(work, 'restored-l'));

    progress.begin('changing 1% of the files');
    const changed = changeFiles(generated, 0.01, 2);
    progress.end();
    // The floor of the save that follows (issue 15): a stat scan of the tree plus SHA-256 of
    // exactly the files just rewritten, measured now, on the same tree and files.
    const changedList = join(work, 'changed-files.txt');
    writeFileSync(
      changedList,
      filesToChange(generated, 0.01)
        .map((f) => `${f.path}\n`)
        .join(''),
    );
    const floor = await run('floor after 1% change', { op: 'save-floor', tree, changedList });
    if (floor.counts?.files !== changed.files || floor.counts.bytes !== changed.bytes) {
      throw new Error(
        `the floor hashed ${JSON.stringify(floor.counts)}, the change was ${JSON.stringify(changed)}`,
      );
    }
    await run('casd save after 1% change', {
      op: 'casd-save',
      ref: 'bench',
      cacheDir: localA,
      tree,
      remoteUrl: url(remote),
    });
    await run('casd capture with CaptureTree after 1% change', {
      op: 'casd-save-capture-tree',
      cacheDir: localA,
      tree,
      remoteUrl: url(remote),
    });
    await run('tar save after 1% change', { op: 'tar-save', tree, workspace: ws, key: 'k2' });

    progress.begin('adding 10% new files');
    const added = generateTree(tree, Math.round(files / 10), 3, 'n');
    progress.end();
    await run('casd save after adding 10%', {
      op: 'casd-save',
      ref: 'bench',
      cacheDir: localA,
      tree,
      remoteUrl: url(remote),
    });
    await run('tar save after adding 10%', { op: 'tar-save', tree, workspace: ws, key: 'k3' });
    await run('casd no-op save after a capture', {
      op: 'casd-save',
      ref: 'bench',
      cacheDir: localA,
      tree,
      remoteUrl: url(remote),
    });

    progress.begin('sha256sum over the tree');
    const sha = (parallel: number): number => {
      const start = Date.now();
      execFileSync(
        'sh',
        ['-c', `find . -type f -print0 | xargs -0 -n 200 -P ${parallel} sha256sum > /dev/null`],
        { cwd: tree },
      );
      return Date.now() - start;
    };
    const sha1 = sha(1);
    const sha2 = sha(2);
    progress.end();
    progress.begin('requiredBlobs and remoteMissingBlobs, 100,000 each');
    const micro = (await runChild(join(here, 'micro.ts'), [casd, '100000'])).result as unknown as Record<
      string,
      number
    >;
    progress.end();

    const report = {
      date: new Date().toISOString(),
      machine: machineFacts(),
      tree: {
        files,
        bytes: generated.bytes,
        symlinks: generated.symlinks,
        directories: generated.directories.length,
        archiveBytes,
      },
      changed,
      added: { files: added.files.length, bytes: added.bytes },
      sha256sum: { oneProcessMs: sha1, twoProcessesMs: sha2, treeBytes: generated.bytes + added.bytes },
      micro,
      mainReady,
      results: Object.fromEntries(results),
    };
    const { renderReport } = await import('./report.js');
    const text = renderReport(report);
    writeResults('latest', report, text);
    process.stdout.write(text);
  } finally {
    for (const proxy of proxies) await proxy.close();
    for (const daemon of remotes) await daemon.stop();
    await emulator.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
