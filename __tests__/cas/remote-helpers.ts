import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command_OutputDirectoryFormat } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Connection } from '../../src/grpc/connection.js';
import { unary } from '../../src/grpc/call.js';
import type { Digest } from '../../src/cas/digest.js';

/** Captures `path` into the casd behind `connection`; returns the root Directory digest. */
export async function captureDirectory(connection: Connection, path: string): Promise<Digest> {
  const response = await unary(connection.localCas.captureTree.bind(connection.localCas), {
    instanceName: '',
    path: [path],
    bypassLocalCache: false,
    nodeProperties: [],
    moveFiles: false,
    root: '',
    outputDirectoryFormat: Command_OutputDirectoryFormat.DIRECTORY_ONLY,
    skipUpload: true,
    unixModeMask: undefined,
  });
  const entry = response.responses[0];
  if (!entry?.rootDirectoryDigest || (entry.status?.code ?? 0) !== 0) {
    throw new Error(`CaptureTree of ${path} failed: ${entry?.status?.message}`);
  }
  return entry.rootDirectoryDigest;
}

/** Path of a blob's object file in a casd cache directory. */
export function objectFile(cacheDir: string, digest: Digest): string {
  return join(cacheDir, 'cas', 'objects', digest.hash.slice(0, 2), digest.hash.slice(2));
}

/** Reads a blob straight from a casd cache directory. */
export function readObject(cacheDir: string, digest: Digest): Promise<Buffer> {
  return readFile(objectFile(cacheDir, digest));
}

/** Number of object files in a casd cache directory. */
export async function countObjects(cacheDir: string): Promise<number> {
  const root = join(cacheDir, 'cas', 'objects');
  let count = 0;
  for (const prefix of await readdir(root)) count += (await readdir(join(root, prefix))).length;
  return count;
}
