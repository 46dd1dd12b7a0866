/**
 * Micro benchmarks of issue 3: requiredBlobs over a 100,000-file tree (synthetic Directories
 * written to a real casd; the files themselves need not exist for a walk) and
 * remoteMissingBlobs for 100,000 digests (half present) against a remote casd on loopback.
 * Prints `BENCH-RESULT {requiredBlobsMs, missingBlobsMs, ...}`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CasClient } from '../src/cas/remote/cas-client.js';
import { type Digest, digestOfBuffer, digestOfMessage } from '../src/cas/digest.js';
import { Remote } from '../src/cas/remote/remote.js';
import { CasStore } from '../src/cas/store/store.js';
import { requiredBlobs } from '../src/cas/trees/tree.js';
import { CasdDaemon } from '../src/casd/index.js';
import { Directory } from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(runs: number, body: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let run = -1; run < runs; run++) {
    const start = process.hrtime.bigint();
    await body();
    if (run >= 0) times.push(Number(process.hrtime.bigint() - start) / 1e6); // run -1 warms up
  }
  return median(times);
}

async function main(): Promise<void> {
  const [casd, countText] = process.argv.slice(2);
  const count = Number(countText ?? 100_000);
  const dir = mkdtempSync(join(tmpdir(), 'casd-bench-micro-'));
  const local = await CasdDaemon.start({ binary: casd, cacheDir: join(dir, 'local'), reservedBytes: 0 });
  const remoteCasd = await CasdDaemon.start({
    binary: casd,
    cacheDir: join(dir, 'remote'),
    reservedBytes: 0,
    listen: '127.0.0.1:0',
  });
  const connection = local.connection();
  const store = new CasStore({ cacheDir: join(dir, 'local'), connection });
  const remote = await Remote.register(
    connection,
    { url: remoteCasd.toState().grpcUrl as string },
    { store },
  );
  try {
    // requiredBlobs: 1,000 directories of 100 files under one root.
    const perDir = 100;
    const client = new CasClient(connection);
    const children: { name: string; digest: Digest }[] = [];
    const blobs: { digest: Digest; data: Uint8Array }[] = [];
    for (let d = 0; d < count / perDir; d++) {
      const files = [];
      for (let f = 0; f < perDir; f++) {
        const digest = digestOfBuffer(Buffer.from(`file ${d}/${f}`));
        files.push({
          name: `f${String(f).padStart(3, '0')}`,
          digest,
          isExecutable: false,
          nodeProperties: undefined,
        });
      }
      const { digest, data } = digestOfMessage(Directory, {
        files,
        directories: [],
        symlinks: [],
        nodeProperties: undefined,
      });
      blobs.push({ digest, data });
      children.push({ name: `d${String(d).padStart(5, '0')}`, digest });
    }
    const root = digestOfMessage(Directory, {
      files: [],
      directories: children,
      symlinks: [],
      nodeProperties: undefined,
    });
    blobs.push(root);
    await client.writeBlobs(blobs);
    let walked = 0;
    const requiredBlobsMs = await timed(3, async () => {
      walked = 0;
      for await (const digest of requiredBlobs(store, root.digest)) if (digest) walked++;
    });

    // remoteMissingBlobs: half of the digests present on the remote.
    const digests: Digest[] = [];
    const present: { digest: Digest; data: Buffer }[] = [];
    for (let i = 0; i < count; i++) {
      const data = randomBytes(16);
      const digest = digestOfBuffer(data);
      digests.push(digest);
      if (i % 2 === 0) present.push({ digest, data });
    }
    const writer = new CasClient(remoteCasd.connection());
    await writer.writeBlobs(present);
    writer.connection.close();
    let missing = 0;
    const missingBlobsMs = await timed(5, async () => {
      missing = (await remote.remoteMissingBlobs(digests)).length;
    });
    process.stdout.write(
      `BENCH-RESULT ${JSON.stringify({ count, walked, requiredBlobsMs, missing, missingBlobsMs })}\n`,
    );
  } finally {
    await remote.close();
    connection.close();
    await Promise.all([local.stop(), remoteCasd.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
