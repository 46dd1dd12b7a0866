import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout } from '../../src/cas/trees/checkout.js';
import { type Digest, digestOfBuffer } from '../../src/cas/digest.js';
import { captureIncremental } from '../../src/cas/capture/incremental-capture.js';
import { checkLinkedFiles } from '../../src/cas/capture/link-check.js';
import { linkRecordPath, listLinkRecords, loadLinkRecord } from '../../src/cas/capture/link-record.js';
import { loadStatCache, statCachePath } from '../../src/cas/capture/stat-cache.js';
import { seedStatCache } from '../../src/cas/capture/stat-seed.js';
import type { VisitedDirectory } from '../../src/cas/trees/tree.js';
import type { Logger } from '../../src/logger.js';
import { sleep } from '../../src/util/concurrency.js';
import { startStore, type StoreFixture, writeTree } from './tree-fixtures.js';

function digestOf(text: string): Digest {
  return digestOfBuffer(Buffer.from(text));
}

/** A logger that keeps its warnings. */
function recording(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const none = () => undefined;
  return { warnings, debug: none, info: none, error: none, warning: (m) => void warnings.push(m) };
}

describe('checkLinkedFiles: writes through files restored as hard links, against a real casd', () => {
  let fx: StoreFixture;
  let statCacheDir: string;
  let count = 0;

  beforeAll(async () => {
    fx = await startStore();
  });
  afterAll(async () => {
    await fx?.stop();
  });

  /** A tree only this test uses, checked out as links and seeded, as restore-links does. */
  async function restoreLinked(): Promise<{ dest: string; root: Digest; text: (name: string) => string }> {
    statCacheDir = fx.scratch();
    const tag = `${count++}-${process.pid}`;
    const text = (name: string): string => `${name} of tree ${tag}\n`;
    const src = writeTree(join(fx.scratch(), 'src'), {
      'a.txt': text('a.txt'),
      'sub/b.txt': text('b.txt'),
      'sub/same.txt': text('b.txt'),
      'tool.sh': { content: text('tool.sh'), mode: 0o755 },
    });
    const root = await fx.store.importDirectory(src);
    const dest = join(fx.scratch(), 'restored');
    const visited: VisitedDirectory[] = [];
    const checkedOut = await checkout(fx.store, root, dest, {
      link: true,
      onDirectory: (v) => visited.push(v),
    });
    expect(checkedOut).toMatchObject({ files: 4, linked: 3 });
    const seeded = await seedStatCache(fx.store, root, dest, { statCacheDir, tree: visited });
    expect(seeded.linked).toBe(3);
    return { dest, root, text };
  }

  const object = (text: string): string => fx.store.objectPath(digestOf(text));

  it('seeding records every linked file (not the copied executable) in the link record', async () => {
    const { dest, text } = await restoreLinked();
    const { record } = await loadLinkRecord(linkRecordPath(statCacheDir, dest));
    expect(record?.root).toBe(dest);
    expect(record?.files.map((f) => [f.path, f.hash]).sort()).toEqual([
      ['a.txt', digestOf(text('a.txt')).hash],
      ['sub/b.txt', digestOf(text('b.txt')).hash],
      ['sub/same.txt', digestOf(text('b.txt')).hash],
    ]);
    // The stat recorded is the shared inode's: the object's.
    const a = record?.files.find((f) => f.path === 'a.txt');
    expect(a?.ino).toBe(statSync(object(text('a.txt')), { bigint: true }).ino.toString());
  });

  it('nothing written: nothing hashed, nothing damaged, the record kept', async () => {
    const { dest } = await restoreLinked();
    expect(await checkLinkedFiles(fx.store, { statCacheDir })).toEqual({
      files: 3,
      rehashed: 0,
      damaged: [],
    });
    expect((await loadLinkRecord(linkRecordPath(statCacheDir, dest))).record?.files).toHaveLength(3);
  });

  it('a write through a link: the object is evicted, the file named, and the next capture hashes it afresh', async () => {
    const { dest, root, text } = await restoreLinked();
    writeFileSync(join(dest, 'a.txt'), 'new');
    expect(readFileSync(object(text('a.txt')), 'utf8')).toBe('new');
    const result = await checkLinkedFiles(fx.store, { statCacheDir });
    expect(result).toEqual({
      files: 3,
      rehashed: 1,
      damaged: [
        {
          digest: digestOf(text('a.txt')),
          objectPath: object(text('a.txt')),
          actual: digestOf('new'),
          evicted: true,
          paths: [join(dest, 'a.txt')],
        },
      ],
    });
    expect(existsSync(object(text('a.txt')))).toBe(false);
    // The file's new content is a change like any other; the stat cache no longer vouches for it.
    const cache = (await loadStatCache(statCachePath(statCacheDir, dest), dest)).cache;
    expect(cache?.files.has('a.txt')).toBe(false);
    expect(cache?.files.has('sub/b.txt')).toBe(true);
    const captured = await captureIncremental(fx.store, dest, { statCacheDir });
    expect(captured.root).not.toEqual(root);
    expect(captured.filesHashed).toBe(1);
    expect(readFileSync(fx.store.objectPath(digestOf('new')), 'utf8')).toBe('new');
    // The link is gone from the record; the other two are still links and still recorded.
    const { record } = await loadLinkRecord(linkRecordPath(statCacheDir, dest));
    expect(record?.files.map((f) => f.path).sort()).toEqual(['sub/b.txt', 'sub/same.txt']);
  });

  it('names every file linked to the damaged object', async () => {
    const { dest, text } = await restoreLinked();
    writeFileSync(join(dest, 'sub', 'b.txt'), `${text('b.txt').toUpperCase()}`);
    const result = await checkLinkedFiles(fx.store, { statCacheDir });
    expect(result.damaged).toHaveLength(1);
    expect(result.damaged[0].paths.sort()).toEqual([
      join(dest, 'sub', 'b.txt'),
      join(dest, 'sub', 'same.txt'),
    ]);
  });

  it('a write of the same bytes is hashed again and left alone', async () => {
    const { dest, text } = await restoreLinked();
    writeFileSync(join(dest, 'a.txt'), text('a.txt'));
    // Past the racy window (20 ms here), so that the stat recorded now proves something later.
    await sleep(30);
    expect(await checkLinkedFiles(fx.store, { statCacheDir })).toMatchObject({ rehashed: 1, damaged: [] });
    expect(readFileSync(object(text('a.txt')), 'utf8')).toBe(text('a.txt'));
    // Recorded again with its new stat: the next check hashes nothing.
    expect(await checkLinkedFiles(fx.store, { statCacheDir })).toMatchObject({ rehashed: 0, damaged: [] });
  });

  it('a file replaced (written elsewhere, renamed over) damages nothing and leaves the record', async () => {
    const { dest, text } = await restoreLinked();
    writeFileSync(join(dest, 'a.txt.tmp'), 'new');
    renameSync(join(dest, 'a.txt.tmp'), join(dest, 'a.txt'));
    expect((await checkLinkedFiles(fx.store, { statCacheDir })).damaged).toEqual([]);
    expect(readFileSync(object(text('a.txt')), 'utf8')).toBe(text('a.txt'));
    const { record } = await loadLinkRecord(linkRecordPath(statCacheDir, dest));
    expect(record?.files.map((f) => f.path)).not.toContain('a.txt');
  });

  it('a file written and then deleted still counts: its object was damaged', async () => {
    const { dest, text } = await restoreLinked();
    writeFileSync(join(dest, 'a.txt'), 'written, then deleted');
    rmSync(join(dest, 'a.txt'));
    const result = await checkLinkedFiles(fx.store, { statCacheDir });
    expect(result.damaged.map((d) => d.digest)).toEqual([digestOf(text('a.txt'))]);
    expect(existsSync(object(text('a.txt')))).toBe(false);
  });

  it('a restored directory that is gone leaves no record behind', async () => {
    const { dest } = await restoreLinked();
    rmSync(dest, { recursive: true });
    expect((await checkLinkedFiles(fx.store, { statCacheDir })).damaged).toEqual([]);
    expect(await listLinkRecords(statCacheDir)).toEqual([]);
  });

  it('an unreadable record is removed with a warning that points at casd-action verify', async () => {
    const { dest } = await restoreLinked();
    const file = linkRecordPath(statCacheDir, dest);
    writeFileSync(file, '{ not json');
    const logger = recording();
    expect(await checkLinkedFiles(fx.store, { statCacheDir, logger })).toEqual({
      files: 0,
      rehashed: 0,
      damaged: [],
    });
    expect(logger.warnings).toEqual([
      `link record ${file} cannot be used (it is not valid JSON), so files restored there as links were not checked; ` +
        'run `casd-action verify` to evict damaged objects from the local cache (a later restore fetches good copies)',
    ]);
    expect(existsSync(file)).toBe(false);
  });

  it('a merged restore keeps the record of links it did not replace', async () => {
    const { dest, text } = await restoreLinked();
    const other = writeTree(join(fx.scratch(), 'other'), {
      'z.txt': `z ${createHash('md5').update(dest).digest('hex')}\n`,
    });
    const otherRoot = await fx.store.importDirectory(other);
    const staging = join(fx.scratch(), 'staging');
    const visited: VisitedDirectory[] = [];
    await checkout(fx.store, otherRoot, staging, { link: true, onDirectory: (v) => visited.push(v) });
    renameSync(join(staging, 'z.txt'), join(dest, 'z.txt'));
    await seedStatCache(fx.store, otherRoot, dest, { statCacheDir, tree: visited });
    const { record } = await loadLinkRecord(linkRecordPath(statCacheDir, dest));
    expect(record?.files.map((f) => f.path).sort()).toEqual(['a.txt', 'sub/b.txt', 'sub/same.txt', 'z.txt']);
    writeFileSync(join(dest, 'sub', 'b.txt'), 'new');
    expect((await checkLinkedFiles(fx.store, { statCacheDir })).damaged.map((d) => d.digest)).toEqual([
      digestOf(text('b.txt')),
    ]);
  });
});
