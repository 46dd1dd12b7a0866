/**
 * Profiles ways of writing a checked-out tree from a warm local cache, on a generated tree
 * (`node … bench/copy-variants.ts CASD [FILES] [ROUNDS]`): the primitives a checkout can use
 * to make ordinary writable files from casd's read-only objects, each into a fresh directory,
 * rounds interleaved so that a burst of load on the shared machine hits every variant alike.
 * Prints a table of medians and `BENCH-RESULT {variant: ms}`.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  constants as fsConstants,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { chmod, copyFile, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkout, stageTree } from '../src/cas/trees/checkout.js';
import type { Digest } from '../src/cas/digest.js';
import { CasStore } from '../src/cas/store/store.js';
import { walkTree } from '../src/cas/trees/tree.js';
import { CasdDaemon } from '../src/casd/index.js';
import { forEachLimit } from '../src/util/concurrency.js';
import { generateTree } from './tree.js';

interface Entry {
  path: string;
  object: string;
  size: number;
  executable: boolean;
}

const SMALL = 64 * 1024;

// CPU time (ms) of this process's waited-for children (cp), from /proc/self/stat.
function childCpu(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100; // cutime + cstime, in ticks of 10 ms
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const [casd, filesText, roundsText] = process.argv.slice(2);
  const files = Number(filesText ?? 10_000);
  const rounds = Number(roundsText ?? 3);
  const work = mkdtempSync(join(tmpdir(), 'casd-bench-copy-'));
  const daemon = await CasdDaemon.start({ binary: casd, cacheDir: join(work, 'cache'), reservedBytes: 0 });
  const connection = daemon.connection();
  const store = new CasStore({ cacheDir: join(work, 'cache'), connection });
  try {
    generateTree(join(work, 'tree'), files, 1);
    const root = await store.importDirectory(join(work, 'tree'));
    const dirs: string[] = [];
    const entries: Entry[] = [];
    for await (const e of walkTree(store, root)) {
      if (e.kind === 'directory') dirs.push(e.path);
      if (e.kind === 'file') {
        const digest = e.digest as Digest;
        entries.push({
          path: e.path,
          object: store.objectPath(digest),
          size: digest.sizeBytes,
          executable: Boolean(e.isExecutable),
        });
      }
    }
    const mode = (e: Entry): number => (e.executable ? 0o755 : 0o644);
    const mkdirs = (dest: string): void => {
      mkdirSync(dest);
      for (const d of dirs) mkdirSync(join(dest, d));
    };
    const pooled =
      (limit: number, write: (e: Entry, to: string) => Promise<void>) =>
      async (dest: string): Promise<void> => {
        mkdirs(dest);
        await forEachLimit(entries, limit, (e) => write(e, join(dest, e.path)));
      };
    const copyChmod = async (e: Entry, to: string): Promise<void> => {
      await copyFile(e.object, to, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
      await chmod(to, mode(e));
    };
    const smallReadWrite = async (e: Entry, to: string): Promise<void> => {
      if (e.size < SMALL) {
        await writeFile(to, await readFile(e.object), { mode: mode(e), flag: 'wx' });
      } else await copyChmod(e, to);
    };
    const syncCopy = (e: Entry, to: string): void => {
      if (e.size < SMALL) {
        const data = readFileSync(e.object);
        const fd = openSync(to, 'wx', mode(e));
        try {
          writeSync(fd, data);
        } finally {
          closeSync(fd);
        }
      } else {
        copyFileSync(e.object, to, fsConstants.COPYFILE_EXCL);
        chmodSync(to, mode(e));
      }
    };

    // Small files on the main thread (synchronous: no thread-pool hop), big ones copied in the
    // thread pool meanwhile.
    const hybrid = async (dest: string): Promise<void> => {
      mkdirs(dest);
      const big = entries.filter((e) => e.size >= SMALL);
      const copying = forEachLimit(big, 8, (e) => copyChmod(e, join(dest, e.path)));
      for (const e of entries) {
        if (e.size < SMALL) syncCopy(e, join(dest, e.path));
        // let the thread pool's completions run now and then
        if (e.size < SMALL && Math.random() < 0.01) await new Promise((r) => setImmediate(r));
      }
      await copying;
    };
    const variants: Record<string, (dest: string) => Promise<void>> = {
      'checkout() as shipped': async (dest) => {
        await checkout(store, root, dest);
      },
      'checkout({link: true})': async (dest) => {
        await checkout(store, root, dest, { link: true });
      },
      'copyFile+chmod, 8 in flight': pooled(8, copyChmod),
      'copyFile+chmod, 32 in flight': pooled(32, copyChmod),
      'copyFile+chmod, 128 in flight': pooled(128, copyChmod),
      'copyFile only (no chmod), 32': pooled(32, async (e, to) => {
        await copyFile(e.object, to, fsConstants.COPYFILE_EXCL);
      }),
      'small: readFile+writeFile(mode), 32': pooled(32, smallReadWrite),
      'hybrid: small sync on main, big copyFile in pool': hybrid,
      'synchronous: read+write small, copyFileSync big': async (dest) => {
        mkdirs(dest);
        for (const e of entries) syncCopy(e, join(dest, e.path));
      },
      'cp -r of the source tree (C floor)': async (dest) => {
        execFileSync('cp', ['-r', join(work, 'tree'), dest]);
      },
      'LocalCAS StageTree': async () => {
        const staged = await stageTree(connection, root, ''); // casd picks the directory
        await staged.unstage();
      },
    };
    const times: Record<string, number[]> = {};
    const cpuTimes: Record<string, number[]> = {};
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of Object.entries(variants)) {
        const dest = join(work, `out-${round}`);
        const start = process.hrtime.bigint();
        const cpu = process.cpuUsage();
        const children = childCpu();
        await run(dest);
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        const used = process.cpuUsage(cpu);
        (times[name] ??= []).push(ms);
        (cpuTimes[name] ??= []).push((used.user + used.system) / 1000 + childCpu() - children);
        rmSync(dest, { recursive: true, force: true });
        rmSync(`${dest}-d`, { recursive: true, force: true });
      }
    }
    const result = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
    for (const [name, v] of Object.entries(times)) {
      process.stderr.write(
        `${name.padEnd(50)} ${median(v).toFixed(0).padStart(6)} ms wall, ${median(cpuTimes[name]).toFixed(0).padStart(6)} ms CPU  (${v.map((x) => x.toFixed(0)).join(', ')})\n`,
      );
    }
    process.stdout.write(`\nBENCH-RESULT ${JSON.stringify(result)}\n`);
  } finally {
    connection.close();
    await daemon.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
