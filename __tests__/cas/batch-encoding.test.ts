import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestOfBuffer } from '../../src/cas/digest.js';
import { encodeBatchUpdate } from '../../src/cas/remote/batch-encoding.js';
import {
  BatchUpdateBlobsRequest,
  Compressor_Value,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';

// What the generated encoder writes for the same request: the bytes must be the same.
function generated(instanceName: string, blobs: { data: Buffer; compressor: Compressor_Value }[]): Buffer {
  const requests = blobs.map(({ data, compressor }) => ({
    digest: digestOfBuffer(data),
    data,
    compressor,
  }));
  return Buffer.from(BatchUpdateBlobsRequest.encode({ instanceName, requests, digestFunction: 0 }).finish());
}

function ours(instanceName: string, blobs: { data: Buffer; compressor: Compressor_Value }[]): Buffer {
  const encoded = encodeBatchUpdate(
    instanceName,
    blobs.map(({ data, compressor }) => ({
      digest: digestOfBuffer(data),
      length: data.byteLength,
      compressor,
    })),
  );
  blobs.forEach(({ data }, i) => {
    expect(encoded.regions[i].byteLength).toBe(data.byteLength);
    data.copy(encoded.regions[i]);
  });
  return encoded.message;
}

describe('encodeBatchUpdate', () => {
  it('writes the bytes of the generated encoder, data regions filled afterwards', () => {
    // Sizes around the varint steps (127/128, 16383/16384) and a 2 MiB batch's worth.
    const sizes = [1, 127, 128, 300, 16_383, 16_384, 100_000, 1_900_000];
    const blobs = sizes.map((size, i) => ({
      data: randomBytes(size),
      compressor: i % 3 === 0 ? Compressor_Value.ZSTD : Compressor_Value.IDENTITY,
    }));
    for (const instance of ['', 'main', 'x'.repeat(200), 'ünïcode']) {
      expect(ours(instance, blobs).equals(generated(instance, blobs))).toBe(true);
    }
  });

  it('decodes back to the request it was given', () => {
    const blobs = [randomBytes(10), randomBytes(5000)].map((data) => ({
      data,
      compressor: Compressor_Value.IDENTITY,
    }));
    const decoded = BatchUpdateBlobsRequest.decode(ours('inst', blobs));
    expect(decoded.instanceName).toBe('inst');
    expect(decoded.requests.map((r) => r.digest)).toEqual(blobs.map((b) => digestOfBuffer(b.data)));
    expect(
      decoded.requests.map((r) => Buffer.from(r.data).equals(blobs[decoded.requests.indexOf(r)].data)),
    ).toEqual([true, true]);
  });

  it('encodes digest sizes beyond 2^31 as the generated encoder does', () => {
    const digest = { hash: 'a'.repeat(64), sizeBytes: 5 * 2 ** 32 + 7 };
    const encoded = encodeBatchUpdate('', [{ digest, length: 3, compressor: Compressor_Value.IDENTITY }]);
    Buffer.from('abc').copy(encoded.regions[0]);
    const expected = BatchUpdateBlobsRequest.encode({
      instanceName: '',
      requests: [{ digest, data: Buffer.from('abc'), compressor: Compressor_Value.IDENTITY }],
      digestFunction: 0,
    }).finish();
    expect(encoded.message.equals(Buffer.from(expected))).toBe(true);
  });

  it('encodes an empty batch as an empty request', () => {
    expect(encodeBatchUpdate('', []).message.byteLength).toBe(0);
  });
});
