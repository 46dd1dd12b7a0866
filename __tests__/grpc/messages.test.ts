import { BinaryReader } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { PushDirectoryRequest } from '../../src/gen/build/bazel/remote/asset/v1/remote_asset.js';
import {
  BatchReadBlobsResponse,
  BatchUpdateBlobsRequest,
  Command_OutputDirectoryFormat,
  Compressor_Value,
  Digest,
  DigestFunction_Value,
  Directory,
  FileNode,
  NodeProperties,
  ServerCapabilities,
  SymlinkAbsolutePathStrategy_Value,
  SymlinkNode,
  Tree,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  CaptureTreeRequest,
  GetInstanceNameForRemotesRequest,
  Remote,
} from '../../src/gen/build/buildgrid/local_cas.js';
import { ReadResponse, WriteRequest } from '../../src/gen/google/bytestream/bytestream.js';

/** The top-level field numbers of an encoded message, in wire order. */
function fieldNumbers(bytes: Uint8Array): number[] {
  const reader = new BinaryReader(bytes);
  const fields: number[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    fields.push(tag >>> 3);
    reader.skip(tag & 7);
  }
  return fields;
}

interface Fns<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

function roundTrip<T>(type: Fns<T>, message: T): { decoded: T; fields: number[] } {
  const bytes = type.encode(message).finish();
  return { decoded: type.decode(bytes), fields: fieldNumbers(bytes) };
}

const hashA = 'a'.repeat(64);
const hashB = 'b'.repeat(64);
const digestA = Digest.fromPartial({ hash: hashA, sizeBytes: 5 });
// Above 2^32, to prove int64 fields survive as `number`.
const digestBig = Digest.fromPartial({ hash: hashB, sizeBytes: 2 ** 40 + 3 });

const properties = NodeProperties.fromPartial({
  properties: [{ name: 'owner', value: 'ci' }],
  mtime: new Date('2024-05-06T07:08:09.123Z'),
  unixMode: 0o755,
});

const directory = Directory.fromPartial({
  files: [
    { name: 'a.txt', digest: digestA, isExecutable: false },
    { name: 'run.sh', digest: digestBig, isExecutable: true, nodeProperties: properties },
  ],
  directories: [{ name: 'sub', digest: digestA }],
  symlinks: [{ name: 'link', target: '../a.txt', nodeProperties: properties }],
  nodeProperties: properties,
});

describe('populated REAPI messages', () => {
  it('Digest encodes hash as field 1 and a 64-bit size as field 2', () => {
    const { decoded, fields } = roundTrip(Digest, digestBig);
    expect(decoded).toEqual(digestBig);
    expect(fields).toEqual([1, 2]);
    // hash "ab", size 300: the bytes any protobuf implementation writes.
    expect(Buffer.from(Digest.encode({ hash: 'ab', sizeBytes: 300 }).finish()).toString('hex')).toBe(
      '0a026162' + '10ac02',
    );
  });

  it('Directory keeps files, directories, symlinks and node properties', () => {
    const { decoded, fields } = roundTrip(Directory, directory);
    expect(decoded).toEqual(directory);
    expect(fields).toEqual([1, 1, 2, 3, 5]);
    expect(decoded.files[1].isExecutable).toBe(true);
    expect(decoded.nodeProperties?.mtime?.toISOString()).toBe('2024-05-06T07:08:09.123Z');
    expect(decoded.nodeProperties?.unixMode).toBe(0o755);
  });

  it('FileNode, SymlinkNode and NodeProperties use the spec field numbers', () => {
    const file = directory.files[1];
    expect(roundTrip(FileNode, file).fields).toEqual([1, 2, 4, 6]);
    expect(roundTrip(SymlinkNode, directory.symlinks[0]).fields).toEqual([1, 2, 4]);
    expect(roundTrip(NodeProperties, properties).fields).toEqual([1, 2, 3]);
  });

  it('Tree keeps its root and children', () => {
    const tree = Tree.fromPartial({ root: directory, children: [directory, Directory.fromPartial({})] });
    const { decoded, fields } = roundTrip(Tree, tree);
    expect(decoded).toEqual(tree);
    expect(fields).toEqual([1, 2, 2]);
  });

  it('ServerCapabilities keeps cache capabilities and API versions', () => {
    const caps = ServerCapabilities.fromPartial({
      cacheCapabilities: {
        digestFunctions: [DigestFunction_Value.SHA256, DigestFunction_Value.BLAKE3],
        actionCacheUpdateCapabilities: { updateEnabled: true },
        maxBatchTotalSizeBytes: 4 * 1024 * 1024,
        symlinkAbsolutePathStrategy: SymlinkAbsolutePathStrategy_Value.ALLOWED,
        supportedCompressors: [Compressor_Value.ZSTD],
        supportedBatchUpdateCompressors: [Compressor_Value.ZSTD, Compressor_Value.DEFLATE],
      },
      deprecatedApiVersion: { major: 2, minor: 0 },
      lowApiVersion: { major: 2, minor: 1 },
      highApiVersion: { major: 2, minor: 12, patch: 3, prerelease: 'rc1' },
    });
    const { decoded, fields } = roundTrip(ServerCapabilities, caps);
    expect(decoded).toEqual(caps);
    expect(fields).toEqual([1, 3, 4, 5]);
    expect(DigestFunction_Value.BLAKE3).toBe(9);
    expect(Compressor_Value.BROTLI).toBe(3);
  });

  it('BatchUpdateBlobsRequest keeps blob bytes and digest function', () => {
    const request = BatchUpdateBlobsRequest.fromPartial({
      instanceName: 'main',
      requests: [
        { digest: digestA, data: Buffer.from('hello'), compressor: Compressor_Value.IDENTITY },
        { digest: digestBig, data: Buffer.from([0, 1, 2, 255]), compressor: Compressor_Value.ZSTD },
      ],
      digestFunction: DigestFunction_Value.SHA256,
    });
    const { decoded, fields } = roundTrip(BatchUpdateBlobsRequest, request);
    expect(decoded).toEqual(request);
    expect(fields).toEqual([1, 2, 2, 5]);
    expect(Buffer.from(decoded.requests[1].data)).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it('ByteStream WriteRequest puts data in field 10', () => {
    const request = WriteRequest.fromPartial({
      resourceName: `uploads/1234/blobs/${hashA}/5`,
      writeOffset: 2 ** 33,
      finishWrite: true,
      data: Buffer.from('hello'),
    });
    const { decoded, fields } = roundTrip(WriteRequest, request);
    expect(decoded).toEqual(request);
    expect(fields).toEqual([1, 2, 3, 10]);
  });
});

describe('received blob bytes', () => {
  // A copy of every blob received cost 0.3-0.4 s of CPU and GC per 291 MB read (scripts/protos.mjs).
  // 16 KiB: bigger than Node's buffer pool, whose slices share one ArrayBuffer anyway.
  const blob = (): Buffer => Buffer.alloc(16 * 1024, 'a');

  it('BatchReadBlobsResponse gives each blob as a Buffer viewing the received message', () => {
    const wire = Buffer.from(
      BatchReadBlobsResponse.encode({
        responses: [
          { digest: digestA, data: blob(), compressor: Compressor_Value.IDENTITY, status: undefined },
        ],
      }).finish(),
    );
    const data = BatchReadBlobsResponse.decode(wire).responses[0].data;
    expect(Buffer.isBuffer(data)).toBe(true);
    expect(data.equals(blob())).toBe(true);
    expect(data.buffer).toBe(wire.buffer);
    wire[wire.length - 1] = 0x62;
    expect(data[data.length - 1]).toBe(0x62);
  });

  it('ByteStream ReadResponse gives its data as a view too', () => {
    const wire = Buffer.from(ReadResponse.encode({ data: blob() }).finish());
    const data = ReadResponse.decode(wire).data;
    expect(Buffer.isBuffer(data)).toBe(true);
    expect(data.equals(blob())).toBe(true);
    expect(data.buffer).toBe(wire.buffer);
  });
});

describe('populated Remote Asset and LocalCAS messages', () => {
  it('PushDirectoryRequest keeps URIs, qualifiers, expiry and references', () => {
    const request = PushDirectoryRequest.fromPartial({
      instanceName: 'main',
      uris: ['urn:example:ref:main'],
      qualifiers: [{ name: 'branch', value: 'main' }],
      expireAt: new Date('2030-01-01T00:00:00.000Z'),
      rootDirectoryDigest: digestA,
      referencesBlobs: [digestBig],
      referencesDirectories: [digestA],
      digestFunction: DigestFunction_Value.SHA256,
    });
    const { decoded, fields } = roundTrip(PushDirectoryRequest, request);
    expect(decoded).toEqual(request);
    expect(fields).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('CaptureTreeRequest keeps every option, including the mode mask', () => {
    const request = CaptureTreeRequest.fromPartial({
      instanceName: 'main',
      path: ['/work/out', '/work/lib'],
      bypassLocalCache: true,
      nodeProperties: ['mtime', 'unix_mode'],
      moveFiles: true,
      root: '/work',
      outputDirectoryFormat: Command_OutputDirectoryFormat.TREE_AND_DIRECTORY,
      skipUpload: true,
      unixModeMask: 0o777,
    });
    const { decoded, fields } = roundTrip(CaptureTreeRequest, request);
    expect(decoded).toEqual(request);
    expect(fields).toEqual([1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9]);
  });

  it('GetInstanceNameForRemotesRequest keeps every Remote setting', () => {
    const remote = Remote.fromPartial({
      url: 'https://cache.example:443',
      instanceName: 'main',
      serverCert: Buffer.from('server pem'),
      clientKey: Buffer.from('key pem'),
      clientCert: Buffer.from('cert pem'),
      keepaliveTime: { seconds: 30, nanos: 0 },
      accessTokenPath: '/run/token',
      accessTokenReloadInterval: { seconds: 60, nanos: 0 },
      retryLimit: 4,
      retryDelay: { seconds: 0, nanos: 100_000_000 },
      requestTimeout: { seconds: 120, nanos: 0 },
      readOnly: true,
    });
    expect(roundTrip(Remote, remote).fields).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const request = GetInstanceNameForRemotesRequest.fromPartial({
      contentAddressableStorage: remote,
      remoteAsset: remote,
      instanceName: 'wanted',
      actionCache: remote,
      execution: remote,
    });
    const { decoded, fields } = roundTrip(GetInstanceNameForRemotesRequest, request);
    expect(decoded).toEqual(request);
    expect(fields).toEqual([1, 2, 3, 4, 5]);
  });
});
