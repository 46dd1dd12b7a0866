import { chmod, copyFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { CasError } from '../../errors.js';
import { forEachLimit } from '../../util/concurrency.js';
import { type Digest, formatDigest } from '../digest.js';
import type { CasClient } from '../remote/cas-client.js';
import { writeNewFile } from '../store/pack-files.js';
import {
  REMOTE_CHECKOUT_BATCH_BYTES,
  REMOTE_CHECKOUT_CONCURRENCY,
  REMOTE_CHECKOUT_WRITES_PER_BATCH,
} from '../options.js';

/** Where one blob goes: each path with its mode. */
interface Targets {
  digest: Digest;
  files: { path: string; mode: number }[];
}

/**
 * Writes files of a checkout straight from a remote's blobs, each file written once, for a
 * tree whose Directories are local and whose files the local cache lacks (a restore on a
 * fresh runner with a remote). Blobs up to REMOTE_CHECKOUT_BATCH_BYTES are read in batches
 * (several in flight), bigger ones streamed into their file; CasClient verifies every blob
 * against its digest. A blob in several files is read once and copied.
 */
export class RemoteFileWriter {
  private readonly targets = new Map<string, Targets>();

  constructor(
    private readonly client: CasClient,
    private readonly onFile?: (sizeBytes: number) => void,
  ) {}

  /** Queues `path` (which must not exist) to receive blob `digest` with `mode`. */
  add(digest: Digest, path: string, mode: number): void {
    const known = this.targets.get(digest.hash);
    if (known) known.files.push({ path, mode });
    else this.targets.set(digest.hash, { digest, files: [{ path, mode }] });
  }

  /** Reads and writes everything queued. Throws CasError('blob-not-found') naming a blob the remote lacks. */
  async finish(): Promise<void> {
    const batches: Targets[][] = [];
    const singles: Targets[] = [];
    let batch: Targets[] = [];
    let bytes = 0;
    for (const target of this.targets.values()) {
      const size = target.digest.sizeBytes;
      if (size > REMOTE_CHECKOUT_BATCH_BYTES) {
        singles.push(target);
        continue;
      }
      if (bytes + size > REMOTE_CHECKOUT_BATCH_BYTES) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(target);
      bytes += size;
    }
    if (batch.length > 0) batches.push(batch);
    const jobs = [...singles.map((single) => ({ single })), ...batches.map((group) => ({ group }))];
    await forEachLimit(jobs, REMOTE_CHECKOUT_CONCURRENCY, async (job) => {
      if ('single' in job) return this.writeStreamed(job.single);
      const { blobs, missing } = await this.client.readBlobs(job.group.map((t) => t.digest));
      if (missing.length > 0) throw notOnRemote(missing[0], this.client);
      // Creating files is the slow part (an inode each): as many at once as a checkout.
      const writes = job.group.flatMap((target) =>
        target.files.map((file) => ({ file, data: blobs.get(target.digest.hash) as Buffer })),
      );
      await forEachLimit(writes, REMOTE_CHECKOUT_WRITES_PER_BATCH, ({ file, data }) =>
        writeNewFile(file.path, data, file.mode),
      );
      for (const target of job.group) this.onFile?.(target.digest.sizeBytes);
    });
  }

  // A big blob: streamed into its first file, which the others copy.
  private async writeStreamed(target: Targets): Promise<void> {
    const [first, ...rest] = target.files;
    try {
      await this.client.readBlobToFile(target.digest, first.path);
    } catch (err) {
      if (err instanceof CasError && err.reason === 'blob-not-found')
        throw notOnRemote(target.digest, this.client);
      throw err;
    }
    await chmod(first.path, first.mode);
    for (const file of rest) {
      await copyFile(first.path, file.path, fsConstants.COPYFILE_EXCL);
      await chmod(file.path, file.mode);
    }
    this.onFile?.(target.digest.sizeBytes);
  }
}

function notOnRemote(digest: Digest, client: CasClient): CasError {
  return new CasError(
    'blob-not-found',
    `blob ${formatDigest(digest)} of the tree being checked out is not on ${client.where()} (any more?)`,
  );
}
