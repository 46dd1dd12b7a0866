import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, formatDigest } from '../../src/cas/digest.js';
import { RefStore } from '../../src/cas/store/refs.js';
import { refUri } from '../../src/cas/remote/remote-refs.js';
import { CasStore } from '../../src/cas/store/store.js';
import { keyRef } from '../../src/action/keys.js';
import { unary } from '../../src/grpc/call.js';
import type { Connection } from '../../src/grpc/connection.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { runAction, type RunnerJob } from '../helpers/runner.js';
import { handDirectory } from '../cas/tree-fixtures.js';
import { baseInputs, messages, newJob, removeJobs } from './support.js';

/** Builds a tree in `store`; `outside` is a directory a hostile symlink points at. */
type Build = (store: CasStore, outside: string) => Promise<{ root: Digest; bad: Digest }>;

const leaf = (store: CasStore): Promise<Digest> => store.addObject({ buffer: Buffer.from('payload') });

/** A tree whose `nested` directory is `bad`, after a safe file (so lazy checks would have written). */
async function around(store: CasStore, bad: Digest): Promise<{ root: Digest; bad: Digest }> {
  const root = await store.putDirectory(
    handDirectory({
      files: [{ name: 'first.txt', digest: await leaf(store) }],
      directories: [{ name: 'nested', digest: bad }],
    }),
  );
  return { root, bad };
}

const HOSTILE: [string, Build, string][] = [
  [
    'a ".." directory holding a file',
    async (store) => {
      const inner = await store.putDirectory(
        handDirectory({ files: [{ name: 'escaped', digest: await leaf(store) }] }),
      );
      return around(
        store,
        await store.putDirectory(handDirectory({ directories: [{ name: '..', digest: inner }] })),
      );
    },
    'entry name ".." is a relative directory reference',
  ],
  [
    'a "." file',
    async (store) =>
      around(
        store,
        await store.putDirectory(handDirectory({ files: [{ name: '.', digest: await leaf(store) }] })),
      ),
    'entry name "." is a relative directory reference',
  ],
  [
    'an "a/b" file',
    async (store) =>
      around(
        store,
        await store.putDirectory(handDirectory({ files: [{ name: 'a/b', digest: await leaf(store) }] })),
      ),
    'entry name "a/b" contains "/"',
  ],
  [
    'an empty name',
    async (store) =>
      around(
        store,
        await store.putDirectory(handDirectory({ files: [{ name: '', digest: await leaf(store) }] })),
      ),
    'entry name "" is empty',
  ],
  [
    'a symlink "a" to a directory outside beside a directory "a"',
    async (store, outside) => {
      const inner = await store.putDirectory(
        handDirectory({ files: [{ name: 'pwned', digest: await leaf(store) }] }),
      );
      return around(
        store,
        await store.putDirectory(
          handDirectory({
            symlinks: [{ name: 'a', target: outside }],
            directories: [{ name: 'a', digest: inner }],
          }),
        ),
      );
    },
    'entry name "a" appears more than once',
  ],
];

/** Publishes `root` as ref `name` on a casd through Remote Asset PushDirectory. */
async function publish(connection: Connection, name: string, root: Digest): Promise<void> {
  await unary(connection.push.pushDirectory.bind(connection.push), {
    instanceName: '',
    uris: [refUri(name)],
    qualifiers: [],
    expireAt: undefined,
    rootDirectoryDigest: root,
    referencesBlobs: [],
    referencesDirectories: [],
    digestFunction: 0,
  });
}

/** An actions/cache-style entry (paths.json + entry 0) for `paths`, with `entry` as its tree. */
async function keyTree(store: CasStore, paths: string[], entry: Digest): Promise<Digest> {
  const manifest = await store.addObject({ buffer: Buffer.from(JSON.stringify(paths)) });
  return store.putDirectory(
    handDirectory({
      files: [{ name: 'paths.json', digest: manifest }],
      directories: [{ name: '0', digest: entry }],
    }),
  );
}

/** Nothing was written in the workspace or outside; returns the job's sentinel dirs. */
function expectNothingWritten(job: RunnerJob, outside: string, dest: string): void {
  expect(readdirSync(outside)).toEqual([]);
  expect(existsSync(join(job.workspace, 'escaped'))).toBe(false);
  expect(existsSync(join(job.root, 'escaped'))).toBe(false);
  expect(existsSync(dest) ? readdirSync(dest) : []).toEqual([]);
  // No staging directory left beside the destination either.
  expect(readdirSync(job.workspace).filter((name) => name.includes('.casd-'))).toEqual([]);
}

describe('hostile trees are refused by the bundled action', () => {
  let remote: TestCasd;
  let remoteStore: CasStore;

  beforeAll(async () => {
    remote = await startTestCasd({ tcp: true });
    remoteStore = new CasStore({ cacheDir: remote.cacheDir, connection: remote.connect() });
  });
  afterAll(async () => {
    removeJobs();
    await remote?.stop();
  });

  async function restore(job: RunnerJob, inputs: Record<string, string>): Promise<string[]> {
    const main = await runAction('main', { job, inputs: baseInputs(job, inputs) });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    const post = await runAction('post', { after: main });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    return messages(main, 'warning');
  }

  for (const [what, build, problem] of HOSTILE) {
    it(`from a remote ref (refs: name -> path): ${what}`, async () => {
      const job = newJob();
      const outside = join(job.root, 'outside');
      mkdirSync(outside);
      const { root, bad } = await build(remoteStore, outside);
      const name = `hostile/${formatDigest(root).slice(0, 12)}`;
      await publish(remote.connect(), name, root);
      const warnings = await restore(job, { remote: remote.url!, refs: `${name} -> dest` });
      expect(warnings).toContain(`restoring refs: directory ${formatDigest(bad)}: ${problem}`);
      expectNothingWritten(job, outside, join(job.workspace, 'dest'));
    });
  }

  for (const [what, build, problem] of [HOSTILE[0], HOSTILE[4]]) {
    it(`from a remote key (path/key): ${what}`, async () => {
      const job = newJob();
      const outside = join(job.root, 'outside');
      mkdirSync(outside);
      const { root, bad } = await build(remoteStore, outside);
      const key = `hostile-key-${formatDigest(root).slice(0, 12)}`;
      await publish(remote.connect(), keyRef(key), await keyTree(remoteStore, ['out'], root));
      // A non-empty destination: staging happens beside it, then a merge.
      mkdirSync(join(job.workspace, 'out'));
      const warnings = await restore(job, { remote: remote.url!, path: 'out', key });
      expect(warnings).toContain(`restoring refs: directory ${formatDigest(bad)}: ${problem}`);
      expectNothingWritten(job, outside, join(job.workspace, 'out'));
    });

    it(`from the local cache (a ref in cache-dir): ${what}`, async () => {
      const job = newJob();
      const outside = join(job.root, 'outside');
      mkdirSync(outside);
      const cacheDir = join(job.root, 'casd-cache');
      const local = await startTestCasd({ cacheDir });
      let root: Digest;
      let bad: Digest;
      try {
        ({ root, bad } = await build(new CasStore({ cacheDir, connection: local.connect() }), outside));
        await new RefStore(cacheDir).set('hostile/local', root);
      } finally {
        await local.stop();
      }
      const warnings = await restore(job, { refs: 'hostile/local -> dest' });
      expect(warnings).toContain(`restoring refs: directory ${formatDigest(bad)}: ${problem}`);
      expectNothingWritten(job, outside, join(job.workspace, 'dest'));
    });
  }

  it('stages absolute symlink targets as symlinks and writes nothing through them', async () => {
    const job = newJob();
    const outside = join(job.root, 'outside');
    mkdirSync(outside);
    const root = await remoteStore.putDirectory(
      handDirectory({
        files: [{ name: 'file.txt', digest: await leaf(remoteStore) }],
        symlinks: [
          { name: 'etc', target: '/etc' },
          { name: 'out', target: outside },
        ],
      }),
    );
    await publish(remote.connect(), 'absolute-links', root);
    const warnings = await restore(job, { remote: remote.url!, refs: 'absolute-links -> dest' });
    expect(warnings).toEqual([]);
    const dest = join(job.workspace, 'dest');
    expect(readdirSync(dest).sort()).toEqual(['etc', 'file.txt', 'out']);
    expect(lstatSync(join(dest, 'etc')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dest, 'etc'))).toBe('/etc');
    expect(readlinkSync(join(dest, 'out'))).toBe(outside);
    expect(readdirSync(outside)).toEqual([]);
  });
});
