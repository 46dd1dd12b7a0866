import { status } from '@grpc/grpc-js';
import { CasError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { Directory } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { isGrpcError } from '../../grpc/call.js';
import type { Connection } from '../../grpc/connection.js';
import { type Digest, digestOfMessage, formatDigest } from '../digest.js';
import { DigestSet } from '../trees/tree.js';
import { GET_TREE_PAGE_SIZE } from '../options.js';

/** One Directory of a tree with its digest and the exact bytes that hash to it. */
export interface TreeDirectory {
  digest: Digest;
  data: Buffer;
  directory: Directory;
}

/**
 * What reading a tree needs of a CAS client (CasClient is one; declared here so that this
 * module and cas-client.ts do not import each other).
 */
export interface TreeSource {
  readonly connection: Pick<Connection, 'cas'>;
  readonly instanceName: string;
  /** Where the server is, for messages. */
  where(): string;
  /** Reads and checks blobs; those the server lacks are listed in `missing`. */
  readBlobs(digests: Iterable<Digest>): Promise<{ blobs: Map<string, Buffer>; missing: Digest[] }>;
}

// Reads every page of GetTree; returns undefined when the server lacks GetTree.
async function getTreePages(
  client: TreeSource,
  root: Digest,
  logger: Logger,
): Promise<Directory[] | undefined> {
  const cas = client.connection.cas;
  const directories: Directory[] = [];
  let pageToken = '';
  try {
    do {
      const stream = cas.getTree({
        instanceName: client.instanceName,
        rootDigest: root,
        pageSize: GET_TREE_PAGE_SIZE,
        pageToken,
        digestFunction: 0,
      });
      pageToken = '';
      for await (const page of stream as AsyncIterable<{ directories: Directory[]; nextPageToken: string }>) {
        directories.push(...page.directories);
        pageToken = page.nextPageToken;
      }
    } while (pageToken !== '');
  } catch (err) {
    if (isGrpcError(err, status.UNIMPLEMENTED)) {
      logger.debug(`${client.where()} has no GetTree; reading Directory blobs level by level`);
      return undefined;
    }
    if (isGrpcError(err, status.NOT_FOUND)) {
      throw new CasError('blob-not-found', `tree ${formatDigest(root)} is not on ${client.where()}`, {
        cause: err,
        grpcCode: status.NOT_FOUND,
      });
    }
    // Why: any other GetTree failure is worth a second chance through plain blob reads.
    logger.debug(
      `GetTree of ${formatDigest(root)} on ${client.where()} failed (${String(err)}); reading level by level`,
    );
    return undefined;
  }
  return directories;
}

/**
 * Every Directory reachable from `root` (root first, then level by level). Directories that
 * GetTree returned are re-encoded and accepted only when that encoding hashes to a digest the
 * tree references; everything else is read as blobs and verified. Throws 'blob-not-found'
 * naming the first Directory the server lacks.
 */
export async function fetchTreeDirectories(
  client: TreeSource,
  root: Digest,
  logger: Logger,
): Promise<TreeDirectory[]> {
  const known = new Map<string, TreeDirectory>();
  const pages = await getTreePages(client, root, logger);
  for (const directory of pages ?? []) {
    const { digest, data } = digestOfMessage(Directory, directory);
    known.set(digest.hash, { digest, data: Buffer.from(data), directory });
  }
  const result: TreeDirectory[] = [];
  const levels = treeLevels(root, async (level) => {
    const unknown = level.filter((d) => !known.has(d.hash));
    if (unknown.length > 0) {
      const read = await client.readBlobs(unknown);
      if (read.missing.length > 0) {
        throw new CasError(
          'blob-not-found',
          `Directory ${formatDigest(read.missing[0])} of tree ${formatDigest(root)} is not on ${client.where()}`,
        );
      }
      for (const digest of unknown) {
        const data = read.blobs.get(digest.hash) as Buffer;
        known.set(digest.hash, { digest, data, directory: decodeDirectory(digest, data) });
      }
    }
    return level.map((digest) => known.get(digest.hash) as TreeDirectory);
  });
  for await (const level of levels) result.push(...level);
  return result;
}

/**
 * Walks the Directories of tree `root` a level at a time (breadth first, each distinct
 * Directory once): `readLevel` gives the Directories of one level, in the order asked, from
 * wherever the caller reads them. Yields each level as read; rethrows what `readLevel` throws.
 */
export async function* treeLevels<T extends { directory: Directory }>(
  root: Digest,
  readLevel: (digests: Digest[]) => Promise<T[]>,
): AsyncGenerator<T[]> {
  const seen = new DigestSet();
  seen.add(root);
  let level: Digest[] = [root];
  while (level.length > 0) {
    const read = await readLevel(level);
    yield read;
    const next: Digest[] = [];
    for (const { directory } of read) {
      for (const child of directory.directories)
        if (child.digest && seen.add(child.digest)) next.push(child.digest);
    }
    level = next;
  }
}

/** Parses a Directory blob; a blob that is not one is reported as corrupt, naming it. */
export function decodeDirectory(digest: Digest, data: Uint8Array): Directory {
  try {
    return Directory.decode(data);
  } catch (err) {
    throw new CasError('corrupt-data', `blob ${formatDigest(digest)} is not a valid Directory message`, {
      cause: err,
    });
  }
}
