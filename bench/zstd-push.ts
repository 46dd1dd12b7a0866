/**
 * Bytes on the wire for a first push of the hosted bench's tree (same generator and seed),
 * plain and as zstd, to the strict stand-in server of the tests (it speaks the real protocol
 * and stores plain blobs in a casd behind it). casd has no compressors, so the hosted bench's
 * remote round cannot show this; here the push is the library's (captured into a pack, pushed
 * straight from it), and the modelled transfer time is the bytes at 100 MB/s (BENCHMARKS.md).
 *
 *   npm run bench:zstd [-- --files N] [--work DIR]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import setupCasd from '../__tests__/helpers/global-setup.js';
import { startTestCasd } from '../__tests__/helpers/casd.js';
import type { LimitedRemoteCounters } from '../__tests__/helpers/limited-remote.js';
import { captureIncremental } from '../src/cas/capture/incremental-capture.js';
import { zstdAvailable } from '../src/cas/remote/compression.js';
import { Remote } from '../src/cas/remote/remote.js';
import { CasStore } from '../src/cas/store/store.js';
import { benchArgs, machineFacts, mb, ms, writeResults } from './measure.js';
import { generateTree } from './tree.js';

const REMOTE_BYTES_PER_S = 100e6;
const here = dirname(fileURLToPath(import.meta.url));
const { files, work } = benchArgs(join(tmpdir(), 'casd-bench-zstd'));

if (!zstdAvailable())
  throw new Error('this Node has no zstd in zlib (22.15+ or 24 needed): run with npm run');
setupCasd();
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const tree = generateTree(join(work, 'tree'), files, 1);
const rows: { server: string; ms: number; bytes: number; blobs: number; modelledMs: number }[] = [];
// The stand-in, in a child process: `READY <url>`, then `COUNTERS <json>` for each line sent.
async function startServer(
  zstd: boolean,
): Promise<{ url: string; counters(): Promise<LimitedRemoteCounters>; stop(): void }> {
  const child = spawn(
    process.execPath,
    [
      '--no-warnings',
      '--import',
      join(here, 'hooks.mjs'),
      '--experimental-transform-types',
      join(here, 'zstd-server.ts'),
      ...(zstd ? ['zstd'] : []),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = (): Promise<string> => new Promise((resolve) => waiting.push(resolve));
  const ready = await next();
  return {
    url: ready.replace(/^READY /, ''),
    async counters() {
      const answer = next();
      child.stdin.write('counters\n');
      return JSON.parse((await answer).replace(/^COUNTERS /, '')) as LimitedRemoteCounters;
    },
    stop: () => child.stdin.end(),
  };
}

for (const zstd of [false, true]) {
  const server = await startServer(zstd);
  const local = await startTestCasd();
  const connection = local.connect();
  const store = new CasStore({ cacheDir: local.cacheDir, connection, skipUpload: true });
  const remote = await Remote.register(connection, { url: server.url }, { store });
  try {
    const root = (await captureIncremental(store, join(work, 'tree'), { intoPack: true })).root;
    store.reloadPacks();
    const start = performance.now();
    const pushed = await remote.pushDirectory(root);
    const took = performance.now() - start;
    const bytes = (await server.counters()).bytesReceived;
    rows.push({
      server: zstd ? 'advertises zstd' : 'no compressors',
      ms: took,
      bytes,
      blobs: pushed.blobsUploaded,
      modelledMs: took + (bytes / REMOTE_BYTES_PER_S) * 1000,
    });
  } finally {
    await remote.close();
    connection.close();
    await local.stop();
    server.stop();
  }
}

const md = [
  `# First push of the bench tree, plain and zstd`,
  '',
  `Tree: ${files} files, ${mb(tree.bytes)}; ${machineFacts().cpus} CPUs, Node ${process.version}. Run ${new Date().toISOString()}.`,
  'Push: the library (capture into a pack, blobs straight from it, 4 MiB batches) to the test stand-in in front of a casd; the stand-in runs in its own process (bench/zstd-server.ts) and forwards every call to the casd behind it, so the wall time holds its decompression (on the same 2 cores) and one more gRPC hop for both rows.',
  '',
  '| server | blobs | bytes on the wire | push wall | modelled (wall + bytes / 100 MB/s) |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.server} | ${r.blobs} | ${mb(r.bytes)} | ${ms(r.ms)} | ${ms(r.modelledMs)} |`),
  '',
  `zstd / plain bytes: ${(rows[1].bytes / rows[0].bytes).toFixed(2)}.`,
  '',
].join('\n');
writeResults('zstd-push', { files, treeBytes: tree.bytes, rows }, md);
console.log(md);
rmSync(work, { recursive: true, force: true });
