import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { installCasd, releaseArch } from '../../src/action/install.js';
import { casdVersion } from '../../src/casd/index.js';
import { silentLogger } from '../../src/logger.js';
import { casdBinary } from '../helpers/casd.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';

/** Builds a release-shaped archive whose buildbox-casd runs the real casd installed for tests. */
function buildArchive(dir: string): Buffer {
  const staging = join(dir, 'staging');
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, 'buildbox-casd'), `#!/bin/sh\nexec "${casdBinary()}" "$@"\n`, { mode: 0o755 });
  writeFileSync(join(staging, 'buildbox-run'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const archive = join(dir, 'buildbox-x86_64-linux-gnu.tgz');
  execFileSync('tar', ['-czf', archive, '-C', staging, '.']);
  return readFileSync(archive);
}

describe('installCasd', () => {
  let work: string;
  let archive: Buffer;
  let server: TestHttpServer;
  const savedPath = process.env.PATH;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'install-'));
    archive = buildArchive(work);
    server = await startHttpServer((req, res) => {
      if (req.url === '/releases/1.4.30/buildbox-x86_64-linux-gnu.tgz') {
        res.writeHead(200, { 'content-type': 'application/gzip' }).end(archive);
      } else res.writeHead(404).end('not found');
    });
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    await server.stop();
  });
  beforeEach(() => {
    // A fresh tool cache and temp per test, and no casd on PATH, as on a clean runner.
    const runner = mkdtempSync(join(work, 'runner-'));
    process.env.RUNNER_TOOL_CACHE = join(runner, 'tool-cache');
    process.env.RUNNER_TEMP = join(runner, 'temp');
    process.env.PATH = '/usr/bin:/bin';
  });

  const options = () => ({
    version: '1.4.30',
    urlTemplate: `${server.url}/releases/{version}/buildbox-{arch}-linux-gnu.tgz`,
    logger: silentLogger,
  });

  it('downloads, verifies, caches and probes the release, then reuses the tool cache', async () => {
    const sha256 = createHash('sha256').update(archive).digest('hex');
    const first = await installCasd({ ...options(), sha256 });
    expect(first.source).toBe('download');
    expect(first.version).toBe('1.4.30');
    expect(first.binary.startsWith(process.env.RUNNER_TOOL_CACHE!)).toBe(true);
    const downloads = server.requests.length;
    const second = await installCasd(options());
    expect(second.source).toBe('tool-cache');
    expect(second.binary).toBe(first.binary);
    expect(server.requests.length).toBe(downloads);
  });

  it('fails on a checksum mismatch and installs nothing', async () => {
    await expect(installCasd({ ...options(), sha256: '0'.repeat(64) })).rejects.toThrow(
      /casd-sha256 mismatch.*expected 0{64}/,
    );
    expect(await installCasd(options()).then((r) => r.source)).toBe('download');
  });

  it('uses casd-path as given, downloading nothing', async () => {
    const before = server.requests.length;
    const result = await installCasd({ ...options(), casdPath: casdBinary() });
    expect(result).toMatchObject({ source: 'casd-path', binary: casdBinary(), version: '1.4.30' });
    expect(server.requests.length).toBe(before);
  });

  it('uses a buildbox-casd on PATH at the wanted version', async () => {
    process.env.PATH = `${join(casdBinary(), '..')}:/usr/bin:/bin`;
    const result = await installCasd(options());
    expect(result.source).toBe('path');
  });

  it('names the URL when the download fails', async () => {
    await expect(installCasd({ ...options(), version: '9.9.9' })).rejects.toThrow(
      /cannot download buildbox from http:\/\/127\.0\.0\.1:\d+\/releases\/9\.9\.9\//,
    );
  });

  it('refuses runners without a published release and names casd-path', async () => {
    await expect(installCasd({ ...options(), platform: 'darwin', arch: 'arm64' })).rejects.toThrow(
      /x86_64 Linux.*darwin\/arm64.*casd-path/,
    );
    expect(releaseArch('linux', 'arm64')).toBeUndefined();
    expect(releaseArch('linux', 'x64')).toBe('x86_64');
  });

  it('reads the version the binary prints', async () => {
    expect(await casdVersion(casdBinary())).toBe('1.4.30');
    await expect(casdVersion('/bin/false')).rejects.toThrow(/cannot get the version of \/bin\/false/);
  });
});
