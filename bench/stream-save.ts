/**
 * What a streamed first save would gain: the capture's pack written straight into the
 * compressor (one tar member, declared at an upper bound and padded) instead of the capture
 * first and `saveCache`'s tar and zstd of the pack after it. The product cannot tee its
 * capture, so the streamed variants use a minimal capture (read each file, SHA-256, gather
 * into 1 MiB pack writes) beside the product's own; each variant runs on a freshly generated
 * tree of the hosted bench (same generator and seed), as a first save meets it: just written,
 * its pages dirty. Only local work is timed (no upload, no requests: those are equal).
 *
 *   npm run bench:stream-save [-- --files N] [--rounds N] [--work DIR]
 *
 * Variants, each ending with the compressed archive on disk:
 *   product    captureIncremental(intoPack) with a real casd, then `tar --posix -cf - | zstdmt`
 *              of the pack, as @actions/cache's saveCache runs them
 *   minimal    the minimal capture, then the same tar and zstdmt
 *   streamed   the minimal capture, its pack writes also sent to zstdmt as one tar member
 *   no pack    streamed, without writing the local pack file (what an ephemeral runner needs)
 *   tar        `tar --posix -cf - tree | zstdmt`: actions/cache's own save without the upload
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import setupCasd from '../__tests__/helpers/global-setup.js';
import { startTestCasd } from '../__tests__/helpers/casd.js';
import { captureIncremental } from '../src/cas/capture/incremental-capture.js';
import { CasStore } from '../src/cas/store/store.js';
import { PACKS_DIR, packNames } from '../src/cas/store/pack-files.js';
import { benchArgs, machineFacts, mb, ms, writeResults } from './measure.js';
import { generateTree } from './tree.js';

const { files, work, flag } = benchArgs(join(tmpdir(), 'casd-bench-stream-save'));
const rounds = Number(flag('--rounds') ?? 3);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a whole number >= 1`);
const GATHER_BYTES = 1 << 20;

type Sink = (chunk: Buffer) => Promise<void>;

function listFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) found.push(path);
    }
  };
  walk(root);
  return found;
}

/** Reads, hashes and packs every file; each pack write also goes to `sink`. Returns bytes packed. */
async function minimalCapture(
  paths: readonly string[],
  packPath: string | undefined,
  sink?: Sink,
): Promise<number> {
  const fd = packPath ? openSync(packPath, 'w') : -1;
  const gather = Buffer.allocUnsafe(GATHER_BYTES);
  let gathered = 0;
  let offset = 0;
  const emit = async (data: Buffer): Promise<void> => {
    if (fd >= 0) writeSync(fd, data, 0, data.byteLength, offset);
    offset += data.byteLength;
    if (sink) await sink(Buffer.from(data));
  };
  const flush = async (): Promise<void> => {
    if (gathered > 0) await emit(gather.subarray(0, gathered));
    gathered = 0;
  };
  for (const path of paths) {
    const data = readFileSync(path);
    createHash('sha256').update(data).digest('hex');
    if (gathered + data.byteLength > GATHER_BYTES) await flush();
    if (data.byteLength > GATHER_BYTES) await emit(data);
    else {
      data.copy(gather, gathered);
      gathered += data.byteLength;
    }
  }
  await flush();
  if (fd >= 0) closeSync(fd);
  return offset;
}

/** A ustar header of a regular file (mode 0644). */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  const field = (text: string, at: number): void => void header.write(text, at, 'ascii');
  field(name, 0);
  field('0000644\0', 100);
  field('0000000\0', 108);
  field('0000000\0', 116);
  field(`${size.toString(8).padStart(11, '0')}\0`, 124);
  field(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
  );
  field('        ', 148);
  field('0', 156);
  field('ustar\0', 257);
  field('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

/** `tar --posix -cf - -C dir name | zstdmt > archive`, as @actions/cache's createTar runs it. */
function tarZstd(dir: string, name: string, archive: string): void {
  const run = spawnSync(
    'sh',
    ['-c', `tar --posix -cf - -P -C "${dir}" "${name}" | zstdmt -q -f -o "${archive}"`],
    {
      stdio: 'inherit',
    },
  );
  if (run.status !== 0) throw new Error(`tar | zstdmt of ${name} failed`);
}

/** The minimal capture sent to zstdmt as one tar member of `bound` bytes, then tar's end. */
async function streamed(
  paths: readonly string[],
  bound: number,
  packPath: string | undefined,
  archive: string,
): Promise<void> {
  const zstd = spawn('zstdmt', ['-q', '-f', '-o', archive], { stdio: ['pipe', 'inherit', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => zstd.on('exit', resolve));
  const sink: Sink = (chunk) =>
    zstd.stdin.write(chunk) ? Promise.resolve() : new Promise((resolve) => zstd.stdin.once('drain', resolve));
  await sink(tarHeader('pack.pack', bound));
  const packed = await minimalCapture(paths, packPath, sink);
  if (packed > bound) throw new Error(`packed ${packed} bytes over the bound ${bound}`);
  // The padding to the bound, the member's last block, and tar's two zero blocks.
  const tail = bound - packed + ((512 - (bound % 512)) % 512) + 1024;
  await sink(Buffer.alloc(tail));
  zstd.stdin.end();
  if ((await exited) !== 0) throw new Error('zstdmt failed');
}

setupCasd();
const variants = ['product', 'minimal', 'streamed', 'no pack', 'tar'] as const;
type Variant = (typeof variants)[number];
const times: Record<Variant, number[]> = { product: [], minimal: [], streamed: [], 'no pack': [], tar: [] };
const archiveBytes: Partial<Record<Variant, number>> = {};
let treeBytes = 0;

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? [...variants] : [...variants].reverse();
  for (const variant of order) {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const root = join(work, 'tree');
    const tree = generateTree(root, files, 1);
    treeBytes = tree.bytes;
    const paths = listFiles(root);
    const bound = tree.bytes;
    const archive = join(work, 'cache.tzst');
    let took: number;
    if (variant === 'product') {
      const casd = await startTestCasd();
      const connection = casd.connect();
      try {
        const store = new CasStore({ cacheDir: casd.cacheDir, connection, skipUpload: true });
        const start = performance.now();
        await captureIncremental(store, root, { intoPack: true, statCacheDir: join(work, 'stat-cache') });
        const packsDir = join(casd.cacheDir, PACKS_DIR);
        const [name] = packNames(packsDir);
        tarZstd(packsDir, `${name}.pack`, archive);
        took = performance.now() - start;
      } finally {
        connection.close();
        await casd.stop();
      }
    } else {
      const start = performance.now();
      if (variant === 'minimal') {
        await minimalCapture(paths, join(work, 'pack.pack'));
        tarZstd(work, 'pack.pack', archive);
      } else if (variant === 'streamed') await streamed(paths, bound, join(work, 'pack.pack'), archive);
      else if (variant === 'no pack') await streamed(paths, bound, undefined, archive);
      else tarZstd(work, 'tree', archive);
      took = performance.now() - start;
    }
    if (variant === 'streamed' || variant === 'no pack') {
      // The archive must be one a restore extracts: tar lists the member, whole.
      const listed = spawnSync('sh', ['-c', `unzstd -c "${archive}" | tar -tvf -`], { encoding: 'utf8' });
      if (listed.status !== 0 || !listed.stdout.includes('pack.pack'))
        throw new Error(`the streamed archive does not extract: ${listed.stderr}`);
    }
    times[variant].push(took);
    archiveBytes[variant] = readFileSync(archive).byteLength;
    console.error(`round ${round + 1}: ${variant} ${ms(took)}`);
  }
}
rmSync(work, { recursive: true, force: true });

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const md = [
  '# A streamed first save, against capture-then-compress',
  '',
  `Tree: ${files} files, ${mb(treeBytes)}, generated afresh before each variant; ${machineFacts().cpus} CPUs, Node ${process.version}. ${rounds} rounds, the order of the variants alternating. Run ${new Date().toISOString()}.`,
  '',
  '| variant | median | rounds | archive |',
  '|---|---|---|---|',
  ...variants.map(
    (v) =>
      `| ${v} | ${ms(median(times[v]))} | ${times[v].map(ms).join(', ')} | ${mb(archiveBytes[v] ?? 0)} |`,
  ),
  '',
].join('\n');
writeResults('stream-save', { files, treeBytes, rounds, times, archiveBytes }, md);
console.log(md);
