/**
 * `npm run bench:capture-memory`: where a capture's memory goes at scale. Captures a tree of
 * many small files (memory grows with the file count, not the bytes) into a pack, as a first
 * save does, then twice with the stat cache, as every later post step does, and prints each
 * capture's peak RSS (VmHWM, reset between captures) and the live heap after it.
 *   --files N      files in the tree (default 100000)
 *   --unbounded    leave V8's heap growth as Node sets it (without boundHeapGrowth, which the
 *                  action's steps and the CLI call)
 *   --v8 FLAGS     set these V8 flags instead of boundHeapGrowth's (to compare settings)
 * Then, casd stopped, saves the cache directory (the capture's pack) to the Actions cache
 * emulator as the post step's "save local cache" does (savePersisted), and restores it into
 * the emptied cache directory as the main step's "restore local cache" does (restorePersisted).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
  const usage = process.memoryUsage();
  const cells = [usage.heapUsed, usage.heapTotal, usage.rss].map((b) => `${(b / 1e6).toFixed(0)} MB`);
  console.log(`| ${stage} | ${peak.toFixed(0)} MB | ${cells.join(' | ')} |`);
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
console.log('| stage | peak RSS | after it: live heap | heap committed | RSS |\n|---|---|---|---|---|');
report('tree written, casd started');
for (const label of ['capture into a pack', 'capture with the stat cache', 'capture with the stat cache']) {
  const start = performance.now();
  const result = await captureIncremental(store, tree, { intoPack: true });
  report(`${label} (${result.filesHashed} hashed, ${((performance.now() - start) / 1000).toFixed(2)} s)`);
}
connection.close();
await daemon.stop();

const { startActionsCacheEmulator } = await import('../__tests__/helpers/actions-cache/index.js');
const { savePersisted, restorePersisted } = await import('../src/action/persist/index.js');
const emulator = await startActionsCacheEmulator();
Object.assign(process.env, emulator.env);
report('casd stopped, cache emulator started');
const saved = await savePersisted({ cacheDir, prefix: 'bench-memory', runId: '1' });
report(`save local cache (${saved.blobsPacked} blobs, ${saved.warnings.length} warnings)`);
// The same cache directory, emptied (the Actions cache's version covers the paths saved).
renameSync(cacheDir, join(work, 'saved-cache'));
const restored = await restorePersisted({ cacheDir, prefix: 'bench-memory', installBlobs: false });
report(`restore local cache (${restored.packsDownloaded} pack(s), ${restored.warnings.length} warnings)`);
await emulator.stop();
rmSync(work, { recursive: true, force: true });
