// Blobs of a restored pack of format 1 are moved into casd's object store. Where the staging
// area (in the workspace) and the cache are on different filesystems the move is a copy, and
// an object file must never be visible half-written: a restore killed mid-copy would leave a
// blob casd serves with the wrong bytes, and every later restore keeps an object that exists.
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { installPackBlobs } from '../../src/action/persist/files.js';

const SHM = '/dev/shm';
const otherFilesystem = existsSync(SHM) && statSync(SHM).dev !== statSync(tmpdir()).dev;

describe('installing the blobs of a format-1 pack', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!otherFilesystem)(
    'across filesystems, an object file appears whole, by rename, and nothing is left beside it',
    async () => {
      const staging = mkdtempSync(join(SHM, 'pack-staging-'));
      const cache = mkdtempSync(join(tmpdir(), 'pack-cache-'));
      dirs.push(staging, cache);
      const data = randomBytes(8 << 20);
      const hash = createHash('sha256').update(data).digest('hex');
      mkdirSync(join(staging, 'objects', hash.slice(0, 2)), { recursive: true });
      writeFileSync(join(staging, 'objects', hash.slice(0, 2), hash.slice(2)), data);
      const objects = join(cache, 'cas', 'objects');
      const prefixDir = join(objects, hash.slice(0, 2));
      mkdirSync(prefixDir, { recursive: true });

      // inotify: a file written where it lands shows 'change' events; one renamed in, none.
      const events: string[] = [];
      const watcher = watch(prefixDir, (event) => events.push(event));
      try {
        const copying = join(cache, '.persist', 'copying');
        mkdirSync(copying, { recursive: true });
        writeFileSync(join(copying, 'left-by-a-killed-restore.copy'), 'partial');
        const installed = await installPackBlobs(staging, [hash], objects, copying);
        expect(installed).toMatchObject({ moved: 1, missing: [], corrupt: [] });
        await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        watcher.close();
      }
      expect(readFileSync(join(prefixDir, hash.slice(2))).equals(data)).toBe(true);
      expect(events).not.toContain('change');
      expect(readdirSync(prefixDir)).toEqual([hash.slice(2)]);
      // Nothing left where it copied, not even what a killed restore had left.
      expect(readdirSync(join(cache, '.persist', 'copying'))).toEqual([]);
    },
  );
});
