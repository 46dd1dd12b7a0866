import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaptureJson, PullJson, PushJson, ServeJson } from '../../src/cli/json.js';
import { checkJson, SCHEMAS } from '../../src/cli/json.js';
import { cliJson, cliOk, runCli, serve, type Served, tempDir } from './run-cli.js';

describe('casd-action push / pull against `casd-action serve`', () => {
  const tmp = tempDir('cli-remote-');
  const serverCache = join(tmp.dir, 'server');
  const cacheA = ['--cache-dir', join(tmp.dir, 'a')];
  const cacheB = ['--cache-dir', join(tmp.dir, 'b')];
  let server: Served;
  let captured: CaptureJson;

  beforeAll(async () => {
    server = await serve(['--cache-dir', serverCache, '--reserved', '0']);
    const src = join(tmp.dir, 'src');
    mkdirSync(join(src, 'lib'), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(src, 'lib', `f${i}.txt`), `file ${i}\n`.repeat(100));
    writeFileSync(join(src, 'README'), 'hello\n');
    captured = await cliJson<CaptureJson>(['capture', src, '--ref', 'team/main', ...cacheA], SCHEMAS.capture);
  });

  afterAll(async () => {
    await server?.stop();
    tmp.remove();
  });

  it('serve prints a grpc:// URL and records itself for its cache directory', () => {
    expect(server.url).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
    expect(existsSync(join(serverCache, 'casd-action-daemon.json'))).toBe(true);
  });

  it('push uploads the blobs the remote lacks and publishes the ref', async () => {
    const pushed = await cliJson<PushJson>(
      ['push', 'team/main', '--remote', server.url, ...cacheA],
      SCHEMAS.push,
    );
    // 21 distinct files + 2 Directories.
    expect(pushed.refs).toEqual([
      expect.objectContaining({
        name: 'team/main',
        digest: captured.digest,
        blobsUploaded: 23,
        published: true,
      }),
    ]);
    expect(pushed.bytesUploaded).toBeGreaterThan(captured.bytes);
  });

  it("a second push moves nothing and asks nothing: the remote vouches for the ref's tree", async () => {
    const again = await cliJson<PushJson>(
      ['push', 'team/main', '--remote', server.url, ...cacheA],
      SCHEMAS.push,
    );
    expect(again.blobsUploaded).toBe(0);
    // The ref's tree on the remote is the same tree: only its root is offered to the sample.
    expect(again.refs[0].blobsChecked).toBe(0);
    expect(again.refs[0].blobsSkipped).toBe(1);
    expect(again.refs[0].published).toBe(true);
  });

  it('pull into a fresh cache fetches the tree and sets the ref; a second pull fetches nothing', async () => {
    const pulled = await cliJson<PullJson>(['pull', 'team/main', ...cacheB], SCHEMAS.pull, {
      CASD_ACTION_REMOTE: server.url,
    });
    expect(pulled.refs).toEqual([
      { name: 'team/main', digest: captured.digest, blobsFetched: 23, bytesFetched: pulled.bytesFetched },
    ]);
    const again = await cliJson<PullJson>(['pull', 'team/main', ...cacheB], SCHEMAS.pull, {
      CASD_ACTION_REMOTE: server.url,
    });
    expect(again.blobsFetched).toBe(0);
    const out = join(tmp.dir, 'out-b');
    await cliOk(['checkout', 'team/main', out, ...cacheB]);
    expect(readFileSync(join(out, 'lib', 'f7.txt'), 'utf8')).toBe('file 7\n'.repeat(100));
  });

  it('checkout of a HASH/SIZE missing locally fetches it from the remote', async () => {
    const cacheC = ['--cache-dir', join(tmp.dir, 'c')];
    const out = join(tmp.dir, 'out-c');
    const result = await runCli([
      'checkout',
      captured.digest,
      out,
      ...cacheC,
      '--remote',
      server.url,
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as { fetchedFromRemote: boolean };
    expect(checkJson(json, SCHEMAS.checkout)).toEqual([]);
    expect(json.fetchedFromRemote).toBe(true);
    expect(readFileSync(join(out, 'README'), 'utf8')).toBe('hello\n');
  });

  it('pull fails with exit 1 naming a ref the remote does not know', async () => {
    const result = await runCli(['pull', 'team/unknown', '--remote', server.url, ...cacheB]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`ref "team/unknown" is not on remote ${server.url}`);
  });

  it('push fails with exit 1 when the remote does not answer', async () => {
    const result = await runCli(['push', 'team/main', '--remote', 'grpc://127.0.0.1:1', ...cacheA]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^casd-action push: .*127\.0\.0\.1:1/);
  });

  it('serve --json prints its document and shuts down cleanly on SIGTERM', async () => {
    const other = join(tmp.dir, 'server2');
    const served = await serve(['--cache-dir', other, '--json']);
    // The first line of a JSON document is "{"; the URL comes in the document.
    expect(served.url).toBe('{');
    const { code } = await served.stop();
    expect(code).toBe(0);
    expect(existsSync(join(other, 'casd-action-daemon.json'))).toBe(false);
  });

  it('serve refuses a cache directory a daemon already serves', async () => {
    const result = await runCli(['serve', '--cache-dir', serverCache]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('a daemon is already running for');
  });
});

describe('casd-action serve document', () => {
  it('matches the serve schema', async () => {
    const tmp = tempDir('cli-serve-');
    const served = await serve(['--cache-dir', join(tmp.dir, 'c'), '--json']);
    const { code } = await served.stop();
    expect(code).toBe(0);
    tmp.remove();
    // The document was printed before shutdown; the schema itself is checked here.
    const sample: ServeJson = {
      url: 'grpc://127.0.0.1:1',
      socket: 'unix:/x',
      pid: 1,
      cacheDir: '/c',
      logPath: '/l',
    };
    expect(checkJson(sample, SCHEMAS.serve)).toEqual([]);
  });
});
