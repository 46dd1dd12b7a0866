import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { keyRef } from '../../src/action/keys.js';
import { type Digest } from '../../src/cas/digest.js';
import { refUri } from '../../src/cas/remote/remote-refs.js';
import { CasStore } from '../../src/cas/store/store.js';
import { requiredBlobs } from '../../src/cas/trees/tree.js';
import { isGrpcError, unary } from '../../src/grpc/call.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { runAction, type RunnerJob } from '../helpers/runner.js';
import { startStallableProxy } from '../helpers/stall-server.js';
import { baseInputs, expectNoPartialObjects, messages, newJob, removeJobs } from './support.js';

/** The tree ref `name` points at on `remote` (Remote Asset FetchDirectory), or undefined. */
async function publishedRoot(remote: TestCasd, name: string): Promise<Digest | undefined> {
  const connection = remote.connect();
  try {
    const response = await unary(connection.fetch.fetchDirectory.bind(connection.fetch), {
      instanceName: '',
      timeout: undefined,
      oldestContentAccepted: undefined,
      uris: [refUri(name)],
      qualifiers: [],
      digestFunction: 0,
    });
    return response.rootDirectoryDigest;
  } catch (err) {
    if (isGrpcError(err, 5)) return undefined;
    throw err;
  } finally {
    connection.close();
  }
}

/** Every blob of the tree `root` is in `remote`'s store; returns how many there are. */
async function expectCompleteOn(remote: TestCasd, root: Digest): Promise<number> {
  const store = new CasStore({ cacheDir: remote.cacheDir, connection: remote.connect() });
  let count = 0;
  for await (const digest of requiredBlobs(store, root)) {
    expect(await store.containsFile(digest), `blob ${digest.hash} of the published tree`).toBe(true);
    count++;
  }
  return count;
}

describe('a remote killed in the middle of a push, then restarted', () => {
  const remotes: TestCasd[] = [];
  afterAll(async () => {
    removeJobs();
    // Later ones first: the first one's directory holds the cache the others reuse.
    for (const remote of remotes.reverse()) await remote.stop();
  });

  it('the next post completes the push; no published ref ever points at missing blobs', async () => {
    const first = await startTestCasd({ tcp: true });
    remotes.push(first);
    const proxy = await startStallableProxy(first.port!);
    const key = 'killed-mid-push';
    const inputs = (job: RunnerJob): Record<string, string> =>
      baseInputs(job, { remote: proxy.url, path: 'out', key, 'save-timeout': '20s' });
    // 12 MB in 400 files: several upload batches, so the kill lands between two of them.
    const tree = (job: RunnerJob): void => {
      for (let i = 0; i < 400; i++) {
        const dir = join(job.workspace, 'out', `d${i % 8}`);
        mkdirSync(dir, { recursive: true });
        const data = Buffer.alloc(30_000, i % 251);
        data.write(`file ${i}`);
        writeFileSync(join(dir, `f${i}`), data);
      }
    };

    // Job 1: the remote dies (SIGKILL) once part of the upload has gone through.
    const job1 = newJob();
    const main1 = await runAction('main', { job: job1, inputs: inputs(job1) });
    expect(main1.exitCode, main1.stdout + main1.stderr).toBe(0);
    tree(job1);
    let killed = false;
    proxy.afterUpstreamBytes(6_000_000, () => {
      killed = true;
      first.process.kill('SIGKILL');
    });
    const post1 = await runAction('post', { after: main1 });
    expect(killed).toBe(true);
    expect(post1.exitCode, post1.stdout + post1.stderr).toBe(0);
    expect(messages(post1, 'warning').some((m) => m.startsWith('pushing blobs: '))).toBe(true);

    // The remote comes back on the same store; the ref was never published.
    const second = await startTestCasd({ tcp: true, cacheDir: first.cacheDir });
    remotes.push(second);
    proxy.setBackend(second.port!);
    expectNoPartialObjects(second.cacheDir);
    expect(await publishedRoot(second, keyRef(key))).toBeUndefined();

    // Job 2 on a fresh runner: a miss on the remote, the same outputs, a push that finishes.
    const job2 = newJob();
    const main2 = await runAction('main', { job: job2, inputs: inputs(job2) });
    expect(main2.exitCode, main2.stdout + main2.stderr).toBe(0);
    expect(main2.outputs['cache-hit']).toBe('false');
    tree(job2);
    const post2 = await runAction('post', { after: main2 });
    expect(post2.exitCode, post2.stdout + post2.stderr).toBe(0);
    expect(messages(post2, 'warning')).toEqual([]);
    // Only what the remote lacked was sent (casd commits its upload batches whole, so what the
    // first push got there depends on where the kill landed).
    const counts = /Blobs checked \/ missing on remote \/ uploaded<\/td><td>(\d+) \/ (\d+) \/ (\d+)</.exec(
      post2.summary,
    );
    expect(counts, post2.summary).not.toBeNull();
    const [checked, missing] = [Number(counts![1]), Number(counts![2])];
    expect(missing).toBeGreaterThan(0);
    expect(missing).toBeLessThanOrEqual(checked);

    const root = await publishedRoot(second, keyRef(key));
    expect(root).toBeDefined();
    expect(await expectCompleteOn(second, root!)).toBe(checked);
    expectNoPartialObjects(second.cacheDir);
    await proxy.stop();
  });
});
