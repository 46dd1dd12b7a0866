import * as zlib from 'node:zlib';

// zstd in zlib (Node 22.15+, 24: what `npm test` runs); @types/node 20 does not declare it.
const z = zlib as unknown as {
  zstdCompressSync?: (data: Uint8Array) => Buffer;
  zstdDecompressSync?: (data: Uint8Array) => Buffer;
};

/** True when this Node has zstd (the test servers that speak it need it). */
export const hasZstd = typeof z.zstdCompressSync === 'function';

export function zstdCompressSync(data: Uint8Array): Buffer {
  return z.zstdCompressSync!(data);
}

export function zstdDecompressSync(data: Uint8Array): Buffer {
  return z.zstdDecompressSync!(data);
}
