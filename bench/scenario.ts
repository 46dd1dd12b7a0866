/**
 * One benchmark scenario, run in its own process so that its peak memory (with casd, tar and
 * zstd below it) can be measured alone. The orchestrator (bench/run.ts) passes a JSON job as
 * the only argument; the result is printed as one `BENCH-RESULT {json}` line (the libraries
 * print their own logs to stdout too).
 *
 * Timed: only the work a step does (capture + push, fetch + checkout, archive + upload);
 * starting and stopping casd is not (the action starts it once per job, in main).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Digest } from '../src/cas/digest.js';

export interface Job {
  op:
    | 'casd-save'
    | 'casd-save-capture-tree'
    | 'casd-raw-save'
    | 'casd-restore'
    | 'casd-warm-restore'
    | 'casd-warm-restore-link'
    | 'casd-post'
    | 'tar-save'
    | 'tar-restore'
    | 'tar-create'
    | 'tar-extract'
    | 'save-floor';
  casd: string;
  cacheDir?: string;
  /** The tree to save, or where to restore it. */
  tree: string;
  /** GITHUB_WORKSPACE for @actions/cache (the tree's parent). */
  workspace?: string;
  remoteUrl?: string;
  root?: Digest;
  key?: string;
  /** casd saves: the ref the tree is saved under (its tree on the remote is the push's base). */
  ref?: string;
  env?: Record<string, string>;
  /** tar-create / tar-extract: the folder holding the archive. */
  archiveFolder?: string;
  /** save-floor: a file listing the changed files, one path (relative to `tree`) a line. */
  changedList?: string;
}

export interface JobResult {
  ms: number;
  phases: Record<string, number>;
  root?: Digest;
  counts?: Record<string, number>;
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

async function withCasd<T>(job: Job, body: (ctx: CasdContext) => Promise<T>): Promise<T> {
  const { CasdDaemon } = await import('../src/casd/index.js');
  const { CasStore } = await import('../src/cas/store/store.js');
  const { Remote } = await import('../src/cas/remote/remote.js');
  const daemon = await CasdDaemon.start({
    binary: job.casd,
    cacheDir: job.cacheDir as string,
    logLevel: 'warning',
    reservedBytes: 0,
  });
  const connection = daemon.connection();
  // As the action and the CLI: captures stay local until the push.
  const store = new CasStore({ cacheDir: job.cacheDir as string, connection, skipUpload: true });
  await store.checkLayout();
  const remote = job.remoteUrl
    ? await Remote.register(connection, { url: job.remoteUrl }, { store })
    : undefined;
  try {
    return await body({ store, remote });
  } finally {
    await remote?.close();
    connection.close();
    await daemon.stop();
  }
}

interface CasdContext {
  store: import('../src/cas/store/store.js').CasStore;
  remote?: import('../src/cas/remote/remote.js').Remote;
}

async function casdSave(job: Job): Promise<JobResult> {
  const { captureIncremental } = await import('../src/cas/capture/incremental-capture.js');
  const { pushRef, resolveRemoteRef } = await import('../src/cas/remote/remote-refs.js');
  return withCasd(job, async ({ store, remote }) => {
    const t0 = now();
    let root: Digest;
    let counts: Record<string, number> = {};
    if (job.op === 'casd-save-capture-tree') {
      root = await store.importDirectory(job.tree);
    } else {
      const captured = await captureIncremental(store, job.tree);
      root = captured.root;
      counts = {
        filesHashed: captured.filesHashed,
        filesReused: captured.filesReused,
        full: Number(captured.full),
      };
    }
    const t1 = now();
    // As the post step: the tree the remote holds under the ref is the push's base, and the
    // ref is published once every blob is there.
    const base = job.ref ? await resolveRemoteRef(remote!, job.ref) : undefined;
    const pushed = await remote!.pushDirectory(root, { presentTrees: base ? [base] : [] });
    const t2 = now();
    if (job.ref) await pushRef(remote!, job.ref, root);
    const t3 = now();
    return {
      ms: t3 - t0,
      phases: { capture: t1 - t0, push: t2 - t1, ref: t3 - t2 },
      root,
      counts: {
        ...counts,
        blobsChecked: pushed.blobsChecked,
        blobsSkipped: pushed.blobsSkipped,
        blobsUploaded: pushed.blobsUploaded,
        bytesUploaded: pushed.bytesUploaded,
      },
    };
  });
}

async function casdRawSave(job: Job): Promise<JobResult> {
  const { captureTree } = await import('../src/cas/store/local-cas.js');
  const { unary } = await import('../src/grpc/call.js');
  return withCasd(job, async ({ store, remote }) => {
    const t0 = now();
    const [response] = await captureTree(store.connection, [job.tree]);
    const root = response.rootDirectoryDigest as Digest;
    const t1 = now();
    const localCas = store.connection.localCas;
    await unary(localCas.uploadTree.bind(localCas), {
      instanceName: remote!.localInstance,
      rootDigest: root,
    });
    const t2 = now();
    return { ms: t2 - t0, phases: { capture: t1 - t0, push: t2 - t1 }, root };
  });
}

// What the main step does for `path` (key-tree.ts stageDirectory): checkout, then seed the
// stat cache from the tree (so that the post step's capture hashes nothing); timed apart.
async function casdRestore(job: Job): Promise<JobResult> {
  const { checkout } = await import('../src/cas/trees/checkout.js');
  const { seedStatCache, wallClockNs } = await import('../src/cas/capture/stat-seed.js');
  return withCasd(job, async ({ store, remote }) => {
    const root = job.root as Digest;
    const t0 = now();
    if (job.op === 'casd-restore') {
      if (!(await remote!.pullTree(root))) throw new Error('the remote lacks the tree');
    } else if (!(await store.containsDirectory(root))) {
      throw new Error('warm restore: the local cache lacks the tree');
    }
    const t1 = now();
    const visited: import('../src/cas/trees/tree.js').VisitedDirectory[] = [];
    const result = await checkout(store, root, job.tree, {
      link: job.op === 'casd-warm-restore-link',
      onDirectory: (v) => visited.push(v),
    });
    const t2 = now();
    const seeded = await seedStatCache(store, root, job.tree, { tree: visited, writtenNs: wallClockNs() });
    const t3 = now();
    return {
      ms: t3 - t0,
      phases: { fetch: t1 - t0, checkout: t2 - t1, seed: t3 - t2 },
      counts: { ...result, seeded: seeded.files, seedWaitMs: Math.round(seeded.waitedMs) },
    };
  });
}

// The post step after a restore (post-step.ts): capture the restored path incrementally; push
// only when it changed (on a key hit with an unchanged tree the post step saves nothing).
async function casdPost(job: Job): Promise<JobResult> {
  const { captureIncremental } = await import('../src/cas/capture/incremental-capture.js');
  return withCasd(job, async ({ store, remote }) => {
    const t0 = now();
    const captured = await captureIncremental(store, job.tree);
    const t1 = now();
    const unchanged = captured.root.hash === job.root?.hash;
    const pushed = unchanged ? undefined : await remote!.pushDirectory(captured.root);
    const t2 = now();
    return {
      ms: t2 - t0,
      phases: { capture: t1 - t0, push: t2 - t1 },
      root: captured.root,
      counts: {
        filesHashed: captured.filesHashed,
        filesReused: captured.filesReused,
        full: Number(captured.full),
        unchanged: Number(unchanged),
        blobsUploaded: pushed?.blobsUploaded ?? 0,
      },
    };
  });
}

async function tarJob(job: Job): Promise<JobResult> {
  for (const [name, value] of Object.entries(job.env ?? {})) process.env[name] = value;
  process.env.GITHUB_WORKSPACE = job.workspace;
  process.chdir(job.workspace as string); // the library resolves the paths from the working directory
  const tree = job.tree.slice((job.workspace as string).length + 1);
  const cache = await import('@actions/cache');
  const tar = await import('../node_modules/@actions/cache/lib/internal/tar.js');
  const utils = await import('../node_modules/@actions/cache/lib/internal/cacheUtils.js');
  const t0 = now();
  if (job.op === 'tar-save') {
    await cache.saveCache([tree], job.key as string);
  } else if (job.op === 'tar-restore') {
    const hit = await cache.restoreCache([tree], job.key as string);
    if (hit !== job.key) throw new Error(`restore of ${job.key} missed`);
  } else if (job.op === 'tar-create') {
    await tar.createTar(job.archiveFolder as string, [tree], await utils.getCompressionMethod());
  } else {
    const method = await utils.getCompressionMethod();
    await tar.extractTar(join(job.archiveFolder as string, utils.getCacheFileName(method)), method);
  }
  const ms = now() - t0;
  return { ms, phases: {} };
}

/**
 * The floor of a save after a change, what any incremental save must at least do on this
 * machine: a stat scan of the whole tree (GNU find printing path, size, mtime, ctime and inode
 * of every entry to /dev/null; wall time from spawn to exit) plus SHA-256 of exactly the files
 * the change rewrote (Node's crypto in this process, one file after the other, each read whole).
 */
function saveFloor(job: Job): JobResult {
  const devNull = openSync('/dev/null', 'w');
  const t0 = now();
  const scan = spawnSync('find', [job.tree, '-printf', '%p %s %T@ %C@ %i\n'], {
    stdio: ['ignore', devNull, 'pipe'],
  });
  const t1 = now();
  closeSync(devNull);
  if (scan.status !== 0) throw new Error(`find failed (${scan.status ?? scan.signal}): ${scan.stderr}`);
  const paths = readFileSync(job.changedList as string, 'utf8')
    .split('\n')
    .filter(Boolean);
  const t2 = now();
  let bytes = 0;
  for (const path of paths) {
    const data = readFileSync(join(job.tree, path));
    createHash('sha256').update(data).digest();
    bytes += data.byteLength;
  }
  const t3 = now();
  return {
    ms: t1 - t0 + (t3 - t2),
    phases: { statScan: t1 - t0, hashChanged: t3 - t2 },
    counts: { files: paths.length, bytes },
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as Job;
  let result: JobResult;
  switch (job.op) {
    case 'casd-save':
    case 'casd-save-capture-tree':
      result = await casdSave(job);
      break;
    case 'casd-raw-save':
      result = await casdRawSave(job);
      break;
    case 'casd-restore':
    case 'casd-warm-restore':
    case 'casd-warm-restore-link':
      result = await casdRestore(job);
      break;
    case 'casd-post':
      result = await casdPost(job);
      break;
    case 'save-floor':
      result = saveFloor(job);
      break;
    default:
      result = await tarJob(job);
  }
  process.stdout.write(`\nBENCH-RESULT ${JSON.stringify(result)}\n`);
}

await main();
