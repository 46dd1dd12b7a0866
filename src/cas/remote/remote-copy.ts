import { access, mkdtemp, rm } from 'node:fs/promises';
import { jobTempDir } from '../../util/temp.js';
import { join } from 'node:path';
import { isCasError } from '../../errors.js';
import { forEachLimit } from '../../util/concurrency.js';
import type { CasClient, Upload } from './cas-client.js';
import type { Digest } from '../digest.js';
import { IN_MEMORY_BLOB_BYTES, IN_MEMORY_GROUP_BYTES } from '../options.js';

/**
 * Copies blobs from one CAS to another (a remote into the local casd, or back), verifying
 * each on the way. Small blobs travel in batches through memory; big ones are streamed via a
 * temp file so a 1 GB blob never sits in memory. Returns the digests `from` does not hold.
 * `objectPath`, when given, names a local file holding a blob (read instead of `from`).
 */
export async function copyBlobs(
  from: CasClient,
  to: CasClient,
  digests: Iterable<Digest>,
  options: { tempDir?: string; objectPath?: (digest: Digest) => string } = {},
): Promise<{ missing: Digest[] }> {
  const missing: Digest[] = [];
  const { objectPath } = options;
  if (objectPath) {
    const uploads: Upload[] = [];
    await forEachLimit(digests, 32, async (digest) => {
      const path = objectPath(digest);
      if (await exists(path)) uploads.push({ digest, path });
      else missing.push(digest);
    });
    await to.writeBlobs(uploads);
    return { missing };
  }
  const groups: Digest[][] = [];
  const large: Digest[] = [];
  let group: Digest[] = [];
  let groupBytes = 0;
  for (const digest of digests) {
    if (digest.sizeBytes > IN_MEMORY_BLOB_BYTES) {
      large.push(digest);
      continue;
    }
    if (groupBytes + digest.sizeBytes > IN_MEMORY_GROUP_BYTES && group.length > 0) {
      groups.push(group);
      group = [];
      groupBytes = 0;
    }
    group.push(digest);
    groupBytes += digest.sizeBytes;
  }
  if (group.length > 0) groups.push(group);

  await forEachLimit(groups, 2, async (batch) => {
    const read = await from.readBlobs(batch);
    missing.push(...read.missing);
    await to.writeBlobs(
      [...read.blobs].map(([hash, data]) => ({ digest: { hash, sizeBytes: data.byteLength }, data })),
    );
  });
  if (large.length === 0) return { missing };
  const dir = await mkdtemp(join(options.tempDir ?? jobTempDir(), 'casd-copy-'));
  try {
    await forEachLimit(large, 2, async (digest) => {
      const path = join(dir, digest.hash);
      try {
        await from.readBlobToFile(digest, path);
      } catch (err) {
        if (isCasError(err, 'blob-not-found')) {
          missing.push(digest);
          return;
        }
        throw err;
      }
      try {
        await to.writeFile(digest, path);
      } finally {
        await rm(path, { force: true });
      }
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { missing };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
