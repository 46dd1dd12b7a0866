import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CasClient } from '../../src/cas/remote/cas-client.js';
import { digestOfBuffer } from '../../src/cas/digest.js';
import {
  decodeSemVer,
  lowerLowApiVersion,
  lowerLowApiVersionInGrpcBody,
} from '../../src/casd/api-version.js';
import { type BazelBridge, startBazelBridge } from '../../src/casd/bazel-bridge.js';
import { unary } from '../../src/grpc/call.js';
import { Connection } from '../../src/grpc/connection.js';
import { ServerCapabilities } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';

function capabilities(low: { major: number; minor: number }): Uint8Array {
  return ServerCapabilities.encode(
    ServerCapabilities.fromPartial({
      cacheCapabilities: { digestFunctions: [1], actionCacheUpdateCapabilities: { updateEnabled: true } },
      lowApiVersion: low,
      highApiVersion: { major: 2, minor: 12 },
    }),
  ).finish();
}

describe('lowering the advertised REAPI low version', () => {
  it('replaces a low_api_version above 2.0 with 2.0 and keeps every other field', () => {
    const rewritten = ServerCapabilities.decode(lowerLowApiVersion(capabilities({ major: 2, minor: 1 })));
    const original = ServerCapabilities.decode(capabilities({ major: 2, minor: 1 }));
    expect(rewritten.lowApiVersion).toMatchObject({ major: 2, minor: 0 });
    expect(rewritten.highApiVersion).toEqual(original.highApiVersion);
    expect(rewritten.cacheCapabilities).toEqual(original.cacheCapabilities);
  });

  it('keeps fields this project does not know, byte for byte', () => {
    const unknown = Uint8Array.from([0xfa, 0x06, 0x03, 0x61, 0x62, 0x63]); // field 111, "abc"
    const message = Buffer.concat([capabilities({ major: 2, minor: 3 }), unknown]);
    const rewritten = Buffer.from(lowerLowApiVersion(message));
    expect(rewritten.subarray(rewritten.length - unknown.length)).toEqual(Buffer.from(unknown));
  });

  it('leaves a message alone whose low end is already 2.0 or below', () => {
    const message = capabilities({ major: 2, minor: 0 });
    expect(lowerLowApiVersion(message)).toBe(message);
  });

  it('rewrites a length-prefixed gRPC body and fixes the length prefix', () => {
    const message = Buffer.from(capabilities({ major: 2, minor: 1 }));
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    const body = lowerLowApiVersionInGrpcBody(Buffer.concat([prefix, message]));
    expect(body.readUInt32BE(1)).toBe(body.length - 5);
    expect(ServerCapabilities.decode(body.subarray(5)).lowApiVersion).toMatchObject({ major: 2, minor: 0 });
  });

  it('decodes SemVer with absent fields as 0', () => {
    expect(decodeSemVer(Uint8Array.from([0x08, 0x02]))).toEqual({ major: 2, minor: 0 });
  });
});

describe('the Bazel bridge in front of the real casd', () => {
  let casd: TestCasd;
  let bridge: BazelBridge;
  let connection: Connection;

  beforeAll(async () => {
    casd = await startTestCasd();
    bridge = await startBazelBridge({
      host: '127.0.0.1',
      port: 0,
      socketPath: casd.socket.replace(/^unix:/, ''),
    });
    connection = new Connection(bridge.url);
  });

  afterAll(async () => {
    connection?.close();
    await bridge?.close();
    await casd?.stop();
  });

  it("advertises REAPI 2.0 as the low end and casd's own high end", async () => {
    const direct = casd.connect();
    try {
      const caps = connection.capabilities;
      const bridged = await unary(caps.getCapabilities.bind(caps), { instanceName: '' });
      const own = await unary(direct.capabilities.getCapabilities.bind(direct.capabilities), {
        instanceName: '',
      });
      expect(bridged.lowApiVersion).toMatchObject({ major: 2, minor: 0 });
      expect(bridged.highApiVersion).toEqual(own.highApiVersion);
      expect(bridged.cacheCapabilities).toEqual(own.cacheCapabilities);
    } finally {
      direct.close();
    }
  });

  it('passes batch and ByteStream calls through unchanged, large blobs included', async () => {
    const client = new CasClient(connection, '', { maxBatchBytes: 1024 * 1024 });
    const small = randomBytes(1000);
    const large = randomBytes(12 * 1024 * 1024 + 17);
    const blobs = [small, large].map((data) => ({ digest: digestOfBuffer(data), data }));
    expect(await client.findMissingBlobs(blobs.map((b) => b.digest))).toHaveLength(2);
    await client.writeBlobs(blobs);
    expect(await client.findMissingBlobs(blobs.map((b) => b.digest))).toEqual([]);
    const read = await client.readBlobs(blobs.map((b) => b.digest));
    expect(read.blobs.get(blobs[1]!.digest.hash)?.equals(large)).toBe(true);
    expect(read.blobs.get(blobs[0]!.digest.hash)?.equals(small)).toBe(true);
  });

  it("passes casd's errors through with their status and message", async () => {
    const ac = connection.actionCache;
    const missing = digestOfBuffer(randomBytes(32));
    const err = await unary(ac.getActionResult.bind(ac), {
      instanceName: '',
      actionDigest: missing,
      inlineStdout: false,
      inlineStderr: false,
      inlineOutputFiles: [],
      digestFunction: 0,
    }).catch((e: unknown) => e as { code: number });
    expect(err).toMatchObject({ code: status.NOT_FOUND });
  });

  it('answers UNAVAILABLE once casd is gone, and keeps listening', async () => {
    const gone = await startTestCasd();
    const orphan = await startBazelBridge({
      host: '127.0.0.1',
      port: 0,
      socketPath: gone.socket.replace(/^unix:/, ''),
    });
    await gone.stop();
    const lonely = new Connection(orphan.url);
    try {
      const caps = lonely.capabilities;
      const err = await unary(
        caps.getCapabilities.bind(caps),
        { instanceName: '' },
        { timeoutMs: 5_000 },
      ).catch((e: unknown) => e as { code: number });
      expect(err).toMatchObject({ code: status.UNAVAILABLE });
    } finally {
      lonely.close();
      await orphan.close();
    }
  });
});
