/**
 * `npm run bench:bridge`: what the Bazel bridge costs. The same calls Bazel makes (ByteStream
 * Write and Read of large blobs, BatchUpdateBlobs of small ones, FindMissingBlobs round trips)
 * go to casd's own TCP address and, in the same run, through the bridge (a detached process of
 * its own, as the action runs it). Reports MB/s each way, the cost per MB and per call, and
 * writes bench/results/bazel-bridge.{json,md}.
 *   --mb N       bytes of large blobs per direction (default 512)
 *   --calls N    sequential FindMissingBlobs calls (default 2000)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import locateCasd from '../__tests__/helpers/global-setup.js';
import { CasClient } from '../src/cas/remote/cas-client.js';
import { type Digest, digestOfBuffer } from '../src/cas/digest.js';
import { CasdDaemon } from '../src/casd/index.js';
import { unary } from '../src/grpc/call.js';
import { Connection } from '../src/grpc/connection.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const totalMb = flag('--mb', 512);
const calls = flag('--calls', 2000);
const LARGE_BYTES = 16 * 1024 * 1024;
const SMALL_BYTES = 4 * 1024;
const ROUNDS = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function timeMs(body: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await body();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface PathFigures {
  writeMs: number;
  readMs: number;
  smallWriteMs: number;
  findMissingMs: number;
}

/** One round on one path, with fresh blobs (so every write stores bytes). */
async function measureRound(url: string): Promise<PathFigures> {
  {
    const connection = new Connection(url);
    const client = new CasClient(connection, '', { concurrency: 8 });
    const large = Array.from({ length: Math.round((totalMb * 1024 * 1024) / LARGE_BYTES) }, () => {
      const data = randomBytes(LARGE_BYTES);
      return { digest: digestOfBuffer(data), data };
    });
    const small = Array.from({ length: 2000 }, () => {
      const data = randomBytes(SMALL_BYTES);
      return { digest: digestOfBuffer(data), data };
    });
    const writeMs = await timeMs(() => client.writeBlobs(large));
    const readMs = await timeMs(async () => {
      const read = await client.readBlobs(large.map((b) => b.digest));
      if (read.missing.length > 0) throw new Error(`${read.missing.length} blobs missing after the write`);
    });
    const smallWriteMs = await timeMs(() => client.writeBlobs(small));
    const digests: Digest[] = small.slice(0, 10).map((b) => b.digest);
    const cas = connection.cas;
    const findMissingMs = await timeMs(async () => {
      for (let i = 0; i < calls; i++) {
        await unary(cas.findMissingBlobs.bind(cas), {
          instanceName: '',
          blobDigests: digests,
          digestFunction: 0,
        });
      }
    });
    connection.close();
    return { writeMs, readMs, smallWriteMs, findMissingMs };
  }
}

function medians(rounds: PathFigures[]): PathFigures {
  return {
    writeMs: median(rounds.map((r) => r.writeMs)),
    readMs: median(rounds.map((r) => r.readMs)),
    smallWriteMs: median(rounds.map((r) => r.smallWriteMs)),
    findMissingMs: median(rounds.map((r) => r.findMissingMs)),
  };
}

async function main(): Promise<void> {
  locateCasd();
  const dir = mkdtempSync(join(tmpdir(), 'casd-bench-bridge-'));
  const daemon = await CasdDaemon.start({
    binary: process.env.BUILDBOX_CASD as string,
    cacheDir: join(dir, 'cache'),
    reservedBytes: 0,
    listen: '127.0.0.1:0',
    bazelBridge: true,
    detach: true,
  });
  try {
    if (!daemon.bazelUrl) throw new Error('the Bazel bridge did not start');
    // Rounds alternate between the paths, so that the store's growth and the page cache weigh
    // on both alike; round 0 of each warms up.
    const rounds: { direct: PathFigures[]; bridged: PathFigures[] } = { direct: [], bridged: [] };
    for (let round = 0; round <= ROUNDS; round++) {
      const order = round % 2 === 0 ? (['direct', 'bridged'] as const) : (['bridged', 'direct'] as const);
      for (const path of order) {
        const figures = await measureRound(path === 'direct' ? (daemon.grpcUrl as string) : daemon.bazelUrl);
        if (round > 0) rounds[path].push(figures);
      }
    }
    const direct = medians(rounds.direct);
    const bridged = medians(rounds.bridged);
    const mbs = (ms: number): number => totalMb / (ms / 1000);
    const perMb = (b: number, d: number): number => (b - d) / totalMb;
    const smallMb = (2000 * SMALL_BYTES) / 1024 / 1024;
    const result = {
      date: new Date().toISOString(),
      largeBlobMb: LARGE_BYTES / 1024 / 1024,
      totalMb,
      calls,
      direct,
      bridged,
      writeMbPerS: { direct: mbs(direct.writeMs), bridged: mbs(bridged.writeMs) },
      readMbPerS: { direct: mbs(direct.readMs), bridged: mbs(bridged.readMs) },
      costMsPerMb: {
        write: perMb(bridged.writeMs, direct.writeMs),
        read: perMb(bridged.readMs, direct.readMs),
        smallBatches: (bridged.smallWriteMs - direct.smallWriteMs) / smallMb,
      },
      costMsPerCall: (bridged.findMissingMs - direct.findMissingMs) / calls,
    };
    const f = (n: number): string => n.toFixed(2);
    const table = [
      `Bazel bridge cost, ${totalMb} MB of ${LARGE_BYTES / 1024 / 1024} MB blobs each way, 2,000 blobs of 4 KiB in batches, ${calls} FindMissingBlobs calls; medians of ${ROUNDS} rounds. Run ${result.date}.`,
      '',
      '| calls | casd direct | through the bridge | bridge cost |',
      '|---|---|---|---|',
      `| ByteStream Write (8 in flight) | ${f(result.writeMbPerS.direct)} MB/s | ${f(result.writeMbPerS.bridged)} MB/s | ${f(result.costMsPerMb.write)} ms/MB |`,
      `| ByteStream Read (8 in flight) | ${f(result.readMbPerS.direct)} MB/s | ${f(result.readMbPerS.bridged)} MB/s | ${f(result.costMsPerMb.read)} ms/MB |`,
      `| BatchUpdateBlobs, 4 KiB blobs | ${f(direct.smallWriteMs)} ms | ${f(bridged.smallWriteMs)} ms | ${f(result.costMsPerMb.smallBatches)} ms/MB |`,
      `| FindMissingBlobs, one at a time | ${f(direct.findMissingMs / calls)} ms/call | ${f(bridged.findMissingMs / calls)} ms/call | ${f(result.costMsPerCall)} ms/call |`,
      '',
    ].join('\n');
    const out = join(import.meta.dirname, 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'bazel-bridge.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(out, 'bazel-bridge.md'), table);
    process.stdout.write(table);
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
