import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CasError } from '../../src/errors.js';
import { startStore, type StoreFixture } from './tree-fixtures.js';

// casd 1.4.30 answers CaptureFiles/CaptureTree with a per-path RESOURCE_EXHAUSTED status
// when a blob exceeds the quota, or when protected session blobs leave no room.
describe('a full local cache', () => {
  let fx: StoreFixture | undefined;
  afterEach(async () => {
    await fx?.stop();
    fx = undefined;
  });

  async function failure(p: Promise<unknown>): Promise<CasError> {
    const error = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CasError);
    return error as CasError;
  }

  it('reports a buffer larger than the quota as cache-too-full', async () => {
    fx = await startStore({ args: ['--quota-high=100K', '--quota-low=50K'] });
    expect((await fx.store.addObject({ buffer: randomBytes(10_000) })).sizeBytes).toBe(10_000);
    const error = await failure(fx.store.addObject({ buffer: randomBytes(200_000) }));
    expect(error.reason).toBe('cache-too-full');
    expect(error.grpcCode).toBe(8);
    expect(error.message).toMatch(/^adding a 200000-byte buffer to the cache failed: RESOURCE_EXHAUSTED: /);
    expect(error.message).toContain('the local cache is full');
  });

  it('reports a file larger than the quota as cache-too-full, naming the file', async () => {
    fx = await startStore({ args: ['--quota-high=100K', '--quota-low=50K'] });
    const file = join(fx.scratch(), 'big.bin');
    writeFileSync(file, randomBytes(150_000));
    const error = await failure(fx.store.addObject({ path: file }));
    expect(error.reason).toBe('cache-too-full');
    expect(error.message).toContain(`adding ${file} to the cache failed: RESOURCE_EXHAUSTED`);
  });

  it('reports an import that cannot fit beside protected session blobs as cache-too-full', async () => {
    fx = await startStore({ args: ['--quota-high=100K', '--quota-low=50K', '--protect-session-blobs'] });
    await fx.store.addObject({ buffer: randomBytes(60_000) });
    const dir = join(fx.scratch(), 'tree');
    mkdirSync(dir);
    for (let i = 0; i < 10; i++) writeFileSync(join(dir, `f${i}`), randomBytes(20_000));
    const error = await failure(fx.store.importDirectory(dir));
    expect(error.reason).toBe('cache-too-full');
    expect(error.message).toContain(`importing directory ${dir} failed: RESOURCE_EXHAUSTED`);
  });
});
