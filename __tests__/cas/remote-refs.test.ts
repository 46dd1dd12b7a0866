import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Digest, digestOfBuffer } from '../../src/cas/digest.js';
import { Remote } from '../../src/cas/remote/remote.js';
import { pushRef, refUri, resolveRemoteRef } from '../../src/cas/remote/remote-refs.js';
import type { Connection } from '../../src/grpc/connection.js';
import type { Logger } from '../../src/logger.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { startLimitedRemote } from '../helpers/limited-remote.js';
import { captureDirectory, readObject } from './remote-helpers.js';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (m: string): void => void lines.push(m);
  return { lines, debug: push, info: push, warning: push, error: push };
}

describe('refs on a remote through Remote Asset', () => {
  let remoteCasd: TestCasd;
  let localCasd: TestCasd;
  let local: Connection;
  let remote: Remote;
  let work: string;
  let root: Digest;
  const contents = [randomBytes(300), randomBytes(2000)];

  beforeAll(async () => {
    [remoteCasd, localCasd] = await Promise.all([startTestCasd({ tcp: true }), startTestCasd()]);
    local = localCasd.connect();
    remote = await Remote.register(local, { url: remoteCasd.url as string });
    work = await mkdtemp(join(tmpdir(), 'remote-refs-'));
    await mkdir(join(work, 'src', 'sub'), { recursive: true });
    await writeFile(join(work, 'src', 'a.bin'), contents[0]);
    await writeFile(join(work, 'src', 'sub', 'b.bin'), contents[1]);
    root = await captureDirectory(local, join(work, 'src'));
    await remote.pushDirectory(root);
  });
  afterAll(async () => {
    await remote?.close();
    local?.close();
    await Promise.all([remoteCasd?.stop(), localCasd?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('publishes a ref and resolves it back to the same tree', async () => {
    expect(await pushRef(remote, 'project/main', root)).toBe(true);
    expect(await resolveRemoteRef(remote, 'project/main')).toEqual(root);
  });

  it('keeps refs published with qualifiers apart', async () => {
    expect(await pushRef(remote, 'qualified', root, { qualifiers: { os: 'linux' } })).toBe(true);
    expect(await resolveRemoteRef(remote, 'qualified', { qualifiers: { os: 'linux' } })).toEqual(root);
    expect(await resolveRemoteRef(remote, 'qualified', { qualifiers: { os: 'macos' } })).toBeUndefined();
  });

  it('uses a configured URN template', async () => {
    const options = { uriTemplate: 'urn:example:cache:{name}' };
    expect(await pushRef(remote, 'templated', root, options)).toBe(true);
    expect(await resolveRemoteRef(remote, 'templated', options)).toEqual(root);
    expect(await resolveRemoteRef(remote, 'templated')).toBeUndefined();
  });

  it('resolves an unknown ref to undefined', async () => {
    expect(await resolveRemoteRef(remote, 'no-such-ref')).toBeUndefined();
  });

  it('fetches a tree whose blobs are only on the remote, found through its ref', async () => {
    await pushRef(remote, 'fetch-me', root);
    const empty = await startTestCasd();
    const connection = empty.connect();
    const puller = await Remote.register(connection, { url: remoteCasd.url as string, readOnly: true });
    try {
      expect(await puller.local.findMissingBlobs(contents.map(digestOfBuffer))).toHaveLength(2);
      const resolved = await resolveRemoteRef(puller, 'fetch-me');
      expect(resolved).toEqual(root);
      expect(await puller.pullTree(resolved as Digest)).toBe(true);
      for (const data of contents)
        expect((await readObject(empty.cacheDir, digestOfBuffer(data))).equals(data)).toBe(true);
    } finally {
      await puller.close();
      connection.close();
      await empty.stop();
    }
  });

  it('refuses to publish on a read-only remote, naming the ref and remote', async () => {
    const readOnly = await Remote.register(local, { url: remoteCasd.url as string, readOnly: true });
    try {
      await expect(pushRef(readOnly, 'x', root)).rejects.toThrow(
        `cannot publish ref x: remote ${remoteCasd.url} is configured read-only`,
      );
    } finally {
      await readOnly.close();
    }
  });
});

describe('refs on a remote without Remote Asset', () => {
  it('resolve to undefined and are not published, each with a notice', async () => {
    const backing = await startTestCasd();
    const localCasd = await startTestCasd();
    const limited = await startLimitedRemote(backing.socket);
    const local = localCasd.connect();
    const logger = recordingLogger();
    const remote = await Remote.register(local, { url: limited.url }, { logger });
    try {
      const root = digestOfBuffer(Buffer.from('whatever'));
      expect(await resolveRemoteRef(remote, 'main')).toBeUndefined();
      expect(await pushRef(remote, 'main', root)).toBe(false);
      expect(logger.lines).toEqual([
        `remote ${limited.url} has no Remote Asset service: ref main cannot be resolved there`,
        `remote ${limited.url} has no Remote Asset service: ref main was not published (blobs were pushed)`,
      ]);
    } finally {
      await remote.close();
      local.close();
      await limited.stop();
      await Promise.all([backing.stop(), localCasd.stop()]);
    }
  });
});

describe('refUri', () => {
  it('fills the default template', () => {
    expect(refUri('main')).toBe('urn:fdc:casd-action:2026:ref:main');
  });

  it('keeps slashes and percent-encodes other unsafe characters', () => {
    expect(refUri('project/feature#1')).toBe('urn:fdc:casd-action:2026:ref:project/feature%231');
  });

  it('rejects an empty name', () => {
    expect(() => refUri('')).toThrow('ref name "" must be non-empty and contain no whitespace');
  });

  it('rejects a name with whitespace', () => {
    expect(() => refUri('a b')).toThrow('ref name "a b" must be non-empty and contain no whitespace');
  });

  it('rejects a template without a {name} placeholder', () => {
    expect(() => refUri('main', 'urn:x:fixed')).toThrow(
      'ref URN template "urn:x:fixed" has no {name} placeholder',
    );
  });
});
