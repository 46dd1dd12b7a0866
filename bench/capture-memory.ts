/**
 * `npm run bench:capture-memory`: where a capture's memory goes at scale. Captures a tree of
 * many small files (memory grows with the file count, not the bytes) into a pack, as a first
 * save does, then twice with the stat cache, as every later post step does, and prints each
 * capture's peak RSS (VmHWM, reset between captures) and the live heap after it.
 *   --files N      files in the tree (default 100000)
 *   --unbounded    leave V8's heap growth as Node sets it (without boundHeapGrowth, which the
 *                  action's steps and the CLI call)
 *   --v8 FLAGS     set these V8 flags instead of boundHeapGrowth's (to compare settings)
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import locateCasd from '../__tests__/helpers/global-setup.js';
import { boundHeapGrowth } from '../src/util/memory.js';

const at = process.argv.indexOf('--files');
const files = at > 0 ? Number(process.argv[at + 1]) : 100_000;
const v8Flags = process.argv.includes('--v8') ? process.argv[process.argv.indexOf('--v8') + 1] : undefined;
if (v8Flags) setFlagsFromString(v8Flags);
else if (!process.argv.includes('--unbounded')) boundHeapGrowth();
const work = join(tmpdir(), 'casd-capture-memory');

function statusMb(field: string): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
}
function report(stage: string): void {
  const peak = statusMb('VmHWM');
  (globalThis as { gc?: () => void }).gc?.();
  const live = process.memoryUsage().heapUsed / 1e6;
  console.log(`| ${stage} | ${peak.toFixed(0)} MB | ${live.toFixed(0)} MB |`);
  writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
}

rmSync(work, { recursive: true, force: true });
const tree = join(work, 'tree');
for (let i = 0; i < files; i++) {
  const dir = join(tree, `d${i % 1000}`, `e${Math.floor(i / 1000) % 10}`);
  if (i < 10_000) mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `file-${i}.dat`), `content of file ${i}\n`.repeat(8));
}
if (!process.env.BUILDBOX_CASD) locateCasd();
const { CasdDaemon } = await import('../src/casd/index.js');
const { CasStore } = await import('../src/cas/store/store.js');
const { captureIncremental } = await import('../src/cas/capture/index.js');
const cacheDir = join(work, 'cache');
const daemon = await CasdDaemon.start({
  binary: process.env.BUILDBOX_CASD as string,
  cacheDir,
  logLevel: 'warning',
  reservedBytes: 0,
});
const connection = daemon.connection();
const store = new CasStore({ cacheDir, connection, skipUpload: true });
await store.checkLayout();
console.log(
  `${files} files, heap growth ${process.argv.includes('--unbounded') ? 'unbounded' : 'bounded'}\n`,
);
console.log('| stage | peak RSS | live heap after |\n|---|---|---|');
report('tree written, casd started');
for (const label of ['capture into a pack', 'capture with the stat cache', 'capture with the stat cache']) {
  const start = performance.now();
  const result = await captureIncremental(store, tree, { intoPack: true });
  report(`${label} (${result.filesHashed} hashed, ${((performance.now() - start) / 1000).toFixed(2)} s)`);
}
connection.close();
await daemon.stop();
rmSync(work, { recursive: true, force: true });
