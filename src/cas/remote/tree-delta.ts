import { CasError } from '../../errors.js';
import type { Directory } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Digest } from '../digest.js';
import type { CasStore } from '../store/store.js';
import { DigestSet, requiredBlobs } from '../trees/tree.js';

/** Keeps a uniform random sample of at most `size` of the digests offered to it. */
export class DigestSample {
  readonly digests: Digest[] = [];
  private offered = 0;

  constructor(private readonly size: number) {}

  offer(digest: Digest): void {
    this.offered++;
    if (this.digests.length < this.size) {
      this.digests.push(digest);
      return;
    }
    const slot = Math.floor(Math.random() * this.offered);
    if (slot < this.size) this.digests[slot] = digest;
  }

  /** How many digests were offered (sampled or not). */
  get count(): number {
    return this.offered;
  }
}

async function readIfLocal(store: CasStore, digest: Digest): Promise<Directory | undefined> {
  try {
    return await store.readDirectory(digest);
  } catch (err) {
    if (err instanceof CasError && err.reason === 'blob-not-found') return undefined;
    throw err;
  }
}

/**
 * The blobs of tree `root` that none of the `bases` trees holds at the same path: walks
 * `root` and the bases side by side from the local store, skipping every subtree equal to a
 * base's subtree at that path, and every file whose digest a base's Directory at that path
 * lists. What is skipped (the top of each equal subtree, each matching file) is offered to
 * `skipped`. A subtree no base has goes whole (requiredBlobs); a base Directory missing from
 * the local store only means less is skipped. Each digest comes once.
 *
 * Why by path: a changed file changes only the Directories above it, so after a small change
 * the walk reads a few Directories on each side instead of the whole tree.
 *
 * Throws like requiredBlobs when a Directory of `root` is missing or broken.
 */
export async function* blobsBeyond(
  store: CasStore,
  root: Digest,
  bases: Digest[],
  skipped: (digest: Digest) => void = () => undefined,
): AsyncGenerator<Digest> {
  const seen = new DigestSet();
  // Level by level, each level's Directories read at once: the walk is short but each read
  // waits on the file system.
  let level: { digest: Digest; bases: Digest[] }[] = [{ digest: root, bases }];
  while (level.length > 0) {
    const next: typeof level = [];
    const toRead: typeof level = [];
    for (const item of level) {
      if (item.bases.some((base) => base.hash === item.digest.hash)) skipped(item.digest);
      else if (item.bases.length === 0) {
        for await (const blob of requiredBlobs(store, item.digest)) if (seen.add(blob)) yield blob;
      } else if (seen.add(item.digest)) toRead.push(item);
    }
    const read = await Promise.all(
      toRead.map(async (item) => ({
        ...item,
        directory: await store.readDirectory(item.digest),
        baseDirectories: (await Promise.all(item.bases.map((base) => readIfLocal(store, base)))).filter(
          (d): d is Directory => d !== undefined,
        ),
      })),
    );
    for (const { digest, directory, baseDirectories } of read) {
      yield digest;
      const baseFiles = new Set<string>();
      for (const base of baseDirectories) {
        for (const file of base.files) if (file.digest) baseFiles.add(file.digest.hash);
      }
      for (const file of directory.files) {
        const fileDigest = file.digest as Digest; // readDirectory validated it
        if (baseFiles.has(fileDigest.hash)) skipped(fileDigest);
        else if (seen.add(fileDigest)) yield fileDigest;
      }
      const baseChildren = baseDirectories.map(
        (base) => new Map(base.directories.map((d) => [d.name, d.digest])),
      );
      for (const child of directory.directories) {
        const childBases: Digest[] = [];
        for (const children of baseChildren) {
          const match = children.get(child.name);
          if (match) childBases.push(match);
        }
        next.push({ digest: child.digest as Digest, bases: childBases });
      }
    }
    level = next;
  }
}
