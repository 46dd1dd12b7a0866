import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Directory } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Digest } from '../../src/cas/digest.js';
import { CasStore } from '../../src/cas/store/store.js';
import type { Connection } from '../../src/grpc/connection.js';
import { startTestCasd, type TestCasd, type TestCasdOptions } from '../helpers/casd.js';

/** A real casd with a CasStore on its cache directory, and scratch space for the test. */
export interface StoreFixture {
  casd: TestCasd;
  connection: Connection;
  store: CasStore;
  /** A fresh temporary directory, removed by `stop()`. */
  scratch(): string;
  stop(): Promise<void>;
}

export async function startStore(options: TestCasdOptions = {}): Promise<StoreFixture> {
  const casd = await startTestCasd(options);
  const connection = casd.connect();
  const store = new CasStore({ cacheDir: casd.cacheDir, connection });
  await store.checkLayout();
  const dirs: string[] = [];
  return {
    casd,
    connection,
    store,
    scratch: () => {
      const dir = mkdtempSync(join(tmpdir(), 'cas-store-t-'));
      dirs.push(dir);
      return dir;
    },
    async stop() {
      connection.close();
      await casd.stop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A file spec: text content (mode 0644), or content with a mode, or a symlink. */
export type EntrySpec = string | { content: string; mode: number } | { symlink: string } | { dir: true };

/** Writes files, symlinks and (empty) directories under `root` from `/`-separated paths. */
export function writeTree(root: string, entries: Record<string, EntrySpec>): string {
  mkdirSync(root, { recursive: true });
  for (const [path, spec] of Object.entries(entries)) {
    const full = join(root, ...path.split('/'));
    mkdirSync(dirname(full), { recursive: true });
    if (typeof spec === 'string') {
      writeFileSync(full, spec);
      chmodSync(full, 0o644);
    } else if ('symlink' in spec) {
      symlinkSync(spec.symlink, full);
    } else if ('dir' in spec) {
      mkdirSync(full, { recursive: true });
    } else {
      writeFileSync(full, spec.content);
      chmodSync(full, spec.mode);
    }
  }
  return root;
}

/** An empty Directory message, to fill by hand (hostile trees). */
export function emptyDirectory(): Directory {
  return { files: [], directories: [], symlinks: [], nodeProperties: undefined };
}

/** Builds a Directory by hand, with entries in the order given (no sorting, no checks). */
export function handDirectory(parts: {
  files?: { name: string; digest: Digest; isExecutable?: boolean }[];
  directories?: { name: string; digest: Digest }[];
  symlinks?: { name: string; target: string }[];
}): Directory {
  return {
    files: (parts.files ?? []).map((f) => ({
      name: f.name,
      digest: f.digest,
      isExecutable: f.isExecutable ?? false,
      nodeProperties: undefined,
    })),
    directories: (parts.directories ?? []).map((d) => ({ name: d.name, digest: d.digest })),
    symlinks: (parts.symlinks ?? []).map((s) => ({
      name: s.name,
      target: s.target,
      nodeProperties: undefined,
    })),
    nodeProperties: undefined,
  };
}

/** Collects an async iterable into an array. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
