import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDigest } from '../../src/cas/digest.js';
import { CasError } from '../../src/errors.js';
import { Remote } from '../../src/cas/remote/remote.js';
import { CasStore } from '../../src/cas/store/store.js';
import { type Logger } from '../../src/logger.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { startCorruptRemote, type CorruptRemote } from '../helpers/corrupt-server.js';
import { handDirectory } from '../cas/tree-fixtures.js';
import { expectNoPartialObjects } from './support.js';

/** A logger that keeps what it was told, for asserting on warnings. */
function recording(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { lines, debug: keep('debug'), info: keep('info'), warning: keep('warning'), error: keep('error') };
}

let counter = 0;
/** A blob of `size` bytes no other test uses. */
function unique(size: number): Buffer {
  const data = Buffer.alloc(size, counter % 251);
  data.write(`blob-${counter++}-${process.pid}`);
  return data;
}

describe('corrupt data from a remote', () => {
  let backend: TestCasd;
  let backendStore: CasStore;
  let local: TestCasd;
  let localStore: CasStore;
  const flip = new Set<string>();
  const truncate = new Set<string>();
  let viaCasd: CorruptRemote;
  let direct: CorruptRemote;

  beforeAll(async () => {
    [backend, local] = await Promise.all([startTestCasd(), startTestCasd()]);
    backendStore = new CasStore({ cacheDir: backend.cacheDir, connection: backend.connect() });
    localStore = new CasStore({ cacheDir: local.cacheDir, connection: local.connect() });
    viaCasd = await startCorruptRemote(backend.socket, { flip, truncate });
    direct = await startCorruptRemote(backend.socket, { flip, truncate, refuseCasd: true });
  });
  afterAll(async () => {
    await Promise.all([viaCasd?.stop(), direct?.stop()]);
    await Promise.all([backend?.stop(), local?.stop()]);
  });

  async function remoteFor(server: CorruptRemote, logger: Logger): Promise<Remote> {
    return Remote.register(local.connect(), { url: server.url }, { store: localStore, logger });
  }

  async function failure(promise: Promise<unknown>): Promise<CasError> {
    const error = await promise.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error, 'expected a failure').toBeInstanceOf(CasError);
    return error as CasError;
  }

  for (const path of ['casd', 'direct'] as const) {
    for (const [fault, size] of [
      ['flip', 1000],
      ['flip', 200_000],
      ['truncate', 1000],
      ['truncate', 200_000],
    ] as const) {
      const how = size > 64 * 1024 ? 'ByteStream' : 'BatchReadBlobs';
      it(`${fault === 'flip' ? 'wrong bytes' : 'a short read'} (${how}) through ${path === 'casd' ? 'casd FetchMissingBlobs' : 'the direct fallback'}: rejected, nothing stored, the digest named`, async () => {
        const data = unique(size);
        const digest = await backendStore.addObject({ buffer: data });
        (fault === 'flip' ? flip : truncate).add(digest.hash);
        const server = path === 'casd' ? viaCasd : direct;
        const remote = await remoteFor(server, recording());
        try {
          const error = await failure(remote.fetchBlobs([digest]));
          expect(error.reason).toBe('corrupt-data');
          expect(error.message).toContain(
            `blob ${formatDigest(digest)} received with wrong content: got ${fault === 'flip' ? size : size / 2} bytes hashing to `,
          );
          expect(await localStore.containsFile(digest)).toBe(false);
          // The same blob through FetchTree (a tree holding it) is refused the same way.
          const root = await backendStore.putDirectory(handDirectory({ files: [{ name: 'f', digest }] }));
          const treeError = await failure(remote.fetchTree(root, { withFiles: true }));
          expect(treeError.message).toContain(`blob ${formatDigest(digest)} received with wrong content`);
          expect(await localStore.containsFile(digest)).toBe(false);
          if (path === 'direct') expect(server.counters.refused).toBeGreaterThan(0);
        } finally {
          await remote.close();
        }
        expectNoPartialObjects(local.cacheDir);
      });
    }
  }

  it('a Directory that does not parse: refused by fetchDirectory and fetchTree, naming the blob', async () => {
    const garbage = await backendStore.addObject({ buffer: Buffer.from('not a directory at all') });
    const root = await backendStore.putDirectory(
      handDirectory({ directories: [{ name: 'sub', digest: garbage }] }),
    );
    for (const server of [viaCasd, direct]) {
      const remote = await remoteFor(server, recording());
      try {
        for (const fetch of [
          () => remote.fetchDirectory(root),
          () => remote.fetchTree(root, { withFiles: true }),
        ]) {
          const error = await failure(fetch());
          expect(error.reason).toBe('corrupt-data');
          expect(error.message).toBe(`blob ${formatDigest(garbage)} is not a valid Directory message`);
        }
      } finally {
        await remote.close();
      }
    }
    expectNoPartialObjects(local.cacheDir);
  });
});
