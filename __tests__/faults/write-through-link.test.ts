// A build step that writes into a file restored with `restore-links: true`. As root the file's
// 0444 mode does not stop the write, and the write lands in casd's object through the shared
// inode. The post step must notice before anything is captured, pushed or persisted: evict the
// damaged object, save the file's new content under its new digest, and warn. A later restore
// of the old tree from the same cache directory then gets the original bytes (fetched again
// from the remote) or a clean miss, never the new bytes.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/cas/digest.js';
import { PACKS_DIR, PackFiles } from '../../src/cas/store/pack-files.js';
import { RefStore } from '../../src/cas/store/refs.js';
import { Directory } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { runAction } from '../helpers/runner.js';
import { baseInputs, messages, newJob, removeJobs } from './support.js';

const ORIGINAL = 'original content of f.txt\n';
const WRITTEN = 'new';

function digestOf(text: string): Digest {
  return { hash: createHash('sha256').update(text).digest('hex'), sizeBytes: Buffer.byteLength(text) };
}

function objectFile(cacheDir: string, digest: Digest): string {
  return join(cacheDir, 'cas', 'objects', digest.hash.slice(0, 2), digest.hash.slice(2));
}

/** A blob of the local store: its object file, or its slice of a pack (a capture's). */
async function storedBlob(cacheDir: string, digest: Digest): Promise<Buffer> {
  if (existsSync(objectFile(cacheDir, digest))) return readFileSync(objectFile(cacheDir, digest));
  const packs = new PackFiles(join(cacheDir, PACKS_DIR));
  try {
    return await packs.read(digest.hash);
  } finally {
    await packs.close();
  }
}

/** The digest of `out/<name>` in the tree saved under `key` (capturePaths layout: entry "0"). */
async function savedFile(cacheDir: string, key: string, name: string): Promise<Digest | undefined> {
  const root = await new RefStore(cacheDir).resolve(`keys/k-${encodeURIComponent(key)}`);
  const read = async (d: Digest): Promise<Directory> => Directory.decode(await storedBlob(cacheDir, d));
  const out = (await read(root)).directories.find((d) => d.name === '0');
  return (await read(out!.digest!)).files.find((f) => f.name === name)?.digest;
}

afterAll(removeJobs);

describe('a write through a file restored as a hard link (restore-links: true, as root)', () => {
  let remote: TestCasd;
  beforeAll(async () => {
    remote = await startTestCasd({ tcp: true });
  });
  afterAll(async () => {
    await remote?.stop();
  });

  /** Job 1 saves out/ under `links-v1`; job 2 restores it as links, writes f.txt, saves `links-v2`. */
  async function saveThenWriteThroughLink(cacheDir: string, remoteUrl: string) {
    const first = newJob();
    const inputs1 = baseInputs(first, {
      'cache-dir': cacheDir,
      remote: remoteUrl,
      path: 'out',
      key: 'links-v1',
    });
    const main1 = await runAction('main', { job: first, inputs: inputs1 });
    expect(main1.exitCode, main1.stdout).toBe(0);
    mkdirSync(join(first.workspace, 'out', 'sub'), { recursive: true });
    writeFileSync(join(first.workspace, 'out', 'f.txt'), ORIGINAL);
    writeFileSync(join(first.workspace, 'out', 'sub', 'g.txt'), 'untouched\n');
    const post1 = await runAction('post', { after: main1 });
    expect(post1.exitCode, post1.stdout).toBe(0);
    expect(post1.summary).toContain('✅ committed');

    const second = newJob();
    const inputs2 = baseInputs(second, {
      'cache-dir': cacheDir,
      remote: remoteUrl,
      path: 'out',
      key: 'links-v2',
      'restore-keys': 'links-',
      'restore-links': 'true',
    });
    const main2 = await runAction('main', { job: second, inputs: inputs2 });
    expect(main2.exitCode, main2.stdout).toBe(0);
    expect(main2.outputs['matched-key'], main2.stdout).toBe('links-v1');
    const file = join(second.workspace, 'out', 'f.txt');
    expect(statSync(file).nlink).toBeGreaterThan(1);
    // The build step: an ordinary write, which root may do to a 0444 file.
    writeFileSync(file, WRITTEN);
    expect(readFileSync(objectFile(cacheDir, digestOf(ORIGINAL)), 'utf8')).toBe(WRITTEN);
    const post2 = await runAction('post', { after: main2 });
    expect(post2.exitCode, post2.stdout).toBe(0);
    return { post2, file };
  }

  it('the post step warns, evicts the damaged object and saves the new bytes under their new digest', async () => {
    const cacheDir = join(newJob().root, 'shared-cache');
    const { post2, file } = await saveThenWriteThroughLink(cacheDir, remote.url!);
    const old = `${digestOf(ORIGINAL).hash}/${digestOf(ORIGINAL).sizeBytes}`;
    const warnings = messages(post2, 'warning').filter((w) => w.includes('hard link'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(file);
    expect(warnings[0]).toContain(old);
    expect(warnings[0]).toContain('evicted');
    expect(post2.summary).toContain('Written through a hard link');
    expect(post2.summary).toContain(old);
    expect(existsSync(objectFile(cacheDir, digestOf(ORIGINAL)))).toBe(false);
    // The new value of the key holds the new bytes under the new digest.
    const saved = await savedFile(cacheDir, 'links-v2', 'f.txt');
    expect(saved).toEqual(digestOf(WRITTEN));
    expect((await storedBlob(cacheDir, saved!)).toString('utf8')).toBe(WRITTEN);
    expect(await savedFile(cacheDir, 'links-v2', 'f.txt')).not.toEqual(digestOf(ORIGINAL));
    // The remote's copy of the old blob was never overwritten.
    expect(readFileSync(objectFile(remote.cacheDir, digestOf(ORIGINAL)), 'utf8')).toBe(ORIGINAL);

    // Job 3, same cache directory: the old value comes back with the original bytes.
    const third = newJob();
    const main3 = await runAction('main', {
      job: third,
      inputs: baseInputs(third, { 'cache-dir': cacheDir, remote: remote.url!, path: 'out', key: 'links-v1' }),
    });
    expect(main3.exitCode, main3.stdout).toBe(0);
    expect(main3.outputs['cache-hit']).toBe('true');
    expect(readFileSync(join(third.workspace, 'out', 'f.txt'), 'utf8')).toBe(ORIGINAL);
    expect(readFileSync(objectFile(cacheDir, digestOf(ORIGINAL)), 'utf8')).toBe(ORIGINAL);
    const post3 = await runAction('post', { after: main3 });
    expect(post3.exitCode, post3.stdout).toBe(0);
    expect(messages(post3, 'warning')).toEqual([]);
  });

  it('without a remote, a later restore of the old value is a clean miss, not the new bytes', async () => {
    const cacheDir = join(newJob().root, 'shared-cache');
    await saveThenWriteThroughLink(cacheDir, '');
    const third = newJob();
    const main3 = await runAction('main', {
      job: third,
      inputs: baseInputs(third, { 'cache-dir': cacheDir, path: 'out', key: 'links-v1' }),
    });
    expect(main3.exitCode, main3.stdout).toBe(0);
    expect(main3.outputs['cache-hit']).toBe('false');
    expect(existsSync(join(third.workspace, 'out', 'f.txt'))).toBe(false);
    expect((await runAction('post', { after: main3 })).exitCode).toBe(0);
  });
});
