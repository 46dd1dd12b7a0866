/**
 * Benchmark: Remote.remoteMissingBlobs for 100,000 digests, half of them present, on loopback
 * against a real remote casd (the figure that decides how fast a push starts). Target: < 1 s.
 *
 * Run with the Node 24 that the dev dependencies ship (it runs TypeScript directly):
 *   node_modules/.bin/node --experimental-transform-types bench/missing-blobs.ts [digests] [runs]
 */
import type { CasClient as CasClientType } from '../src/cas/remote/cas-client.js';
import type { Digest } from '../src/cas/digest.js';

type ResolveHook = (
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => unknown,
) => unknown;

// Why: the sources import siblings as `./x.js` (NodeNext style) while the files are `x.ts`;
// Node runs TypeScript but does not remap the extension, so a resolve hook does.
async function mapJsToTs(): Promise<void> {
  const nodeModule = (await import('node:module')) as unknown as {
    registerHooks?: (hooks: { resolve: ResolveHook }) => void;
  };
  if (!nodeModule.registerHooks) {
    throw new Error('run this with Node >= 22.15 (node_modules/.bin/node --experimental-transform-types)');
  }
  nodeModule.registerHooks({
    resolve(specifier, context, next) {
      try {
        return next(specifier, context);
      } catch (err) {
        if (specifier.startsWith('.') && specifier.endsWith('.js')) {
          return next(`${specifier.slice(0, -3)}.ts`, context);
        }
        throw err;
      }
    },
  });
}

async function main(): Promise<void> {
  await mapJsToTs();
  const count = Number(process.argv[2] ?? 100_000);
  const runs = Number(process.argv[3] ?? 5);
  const { randomBytes } = await import('node:crypto');
  const { default: locateCasd } = await import('../__tests__/helpers/global-setup.js');
  locateCasd();
  const { startTestCasd } = await import('../__tests__/helpers/casd.js');
  const { CasClient } = await import('../src/cas/remote/cas-client.js');
  const { digestOfBuffer } = await import('../src/cas/digest.js');
  const { Remote } = await import('../src/cas/remote/remote.js');

  const [remoteCasd, localCasd] = await Promise.all([startTestCasd({ tcp: true }), startTestCasd()]);
  const local = localCasd.connect();
  const remote = await Remote.register(local, { url: remoteCasd.url as string });
  try {
    const digests: Digest[] = [];
    const present: Array<{ digest: Digest; data: Buffer }> = [];
    for (let i = 0; i < count; i++) {
      const data = randomBytes(16);
      const digest = digestOfBuffer(data);
      digests.push(digest);
      if (i % 2 === 0) present.push({ digest, data });
    }
    const writer: CasClientType = new CasClient(remoteCasd.connect());
    await writer.writeBlobs(present);
    writer.connection.close();

    const times: number[] = [];
    for (let run = -2; run < runs; run++) {
      const start = process.hrtime.bigint();
      const missing = await remote.remoteMissingBlobs(digests);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (missing.length !== count - present.length) {
        throw new Error(`expected ${count - present.length} missing, got ${missing.length}`);
      }
      if (run >= 0) times.push(ms); // the first two runs warm up the JIT and the channel
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    process.stdout.write(
      `remoteMissingBlobs: ${count} digests (${present.length} present), ${runs} runs: ` +
        `median ${median.toFixed(0)} ms, best ${times[0].toFixed(0)} ms, worst ${times[times.length - 1].toFixed(0)} ms` +
        ` (target < 1000 ms)\n`,
    );
  } finally {
    await remote.close();
    local.close();
    await Promise.all([remoteCasd.stop(), localCasd.stop()]);
  }
}

await main();
