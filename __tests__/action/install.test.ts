import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CASD_RELEASES,
  compareVersions,
  LATEST_RELEASE_URL_TEMPLATE,
  newestRelease,
  RELEASE_URL_TEMPLATE,
  releaseUrl,
} from '../../src/action/casd-releases.js';
import { Inputs } from '../../src/action/constants.js';
import { INPUT_DEFAULTS } from '../../src/action/defaults.js';
import { installCasd, releaseArch } from '../../src/action/install.js';
import { casdVersion } from '../../src/casd/index.js';
import { CasError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import { casdBinary } from '../helpers/casd.js';
import { startReleaseServer } from '../helpers/release.js';

type ReleaseServer = Awaited<ReturnType<typeof startReleaseServer>>;

/** The CasError a promise rejects with (the test fails when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<CasError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(CasError);
  return error as CasError;
}

/** A logger that keeps its warnings, for asserting on them. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const ignore = (): void => undefined;
  return { warnings, debug: ignore, info: ignore, error: ignore, warning: (m) => void warnings.push(m) };
}

describe('installCasd', () => {
  let work: string;
  let server: ReleaseServer;
  const savedPath = process.env.PATH;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'install-'));
    server = await startReleaseServer();
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
    urlTemplate: server.urlTemplate,
    logger: recordingLogger(),
  });
  /** A table of releases that vouches for the test server's archive as 1.4.30. */
  const tableWith = (sha256: string) => ({ '1.4.30': { x86_64: sha256 } });
  const toolCacheHoldsCasd = (): boolean => existsSync(join(process.env.RUNNER_TOOL_CACHE!, 'buildbox-casd'));

  it('downloads, verifies, caches and probes the release, then reuses the tool cache', async () => {
    const first = await installCasd({ ...options(), sha256: server.sha256 });
    expect(first.source).toBe('download');
    expect(first.version).toBe('1.4.30');
    expect(first.binary.startsWith(process.env.RUNNER_TOOL_CACHE!)).toBe(true);
    const downloads = server.requests.length;
    const second = await installCasd(options());
    expect(second.source).toBe('tool-cache');
    expect(second.binary).toBe(first.binary);
    expect(server.requests.length).toBe(downloads);
  });

  it('keeps the tools shipped beside buildbox-casd in the tool cache', async () => {
    const { binary } = await installCasd({ ...options(), sha256: server.sha256 });
    expect(readdirSync(dirname(binary)).sort()).toEqual([
      'buildbox-casd',
      'buildbox-fuse',
      'buildbox-run',
      'buildbox-run-bubblewrap',
    ]);
  });

  it('fails on a casd-sha256 mismatch and installs nothing', async () => {
    await expect(installCasd({ ...options(), sha256: '0'.repeat(64) })).rejects.toThrow(
      /casd-sha256 mismatch.*expected 0{64}/,
    );
    expect(toolCacheHoldsCasd()).toBe(false);
  });

  it('verifies a release in the table against it, without casd-sha256 and without a warning', async () => {
    const logger = recordingLogger();
    const result = await installCasd({ ...options(), logger, releases: tableWith(server.sha256) });
    expect(result.source).toBe('download');
    expect(logger.warnings).toEqual([]);
  });

  it('refuses an archive that differs from the table, naming both checksums, and installs nothing', async () => {
    const error = await rejection(installCasd({ ...options(), releases: tableWith('1'.repeat(64)) }));
    expect(error.message).toMatch(
      new RegExp(
        `checksum mismatch .*1\\.4\\.30 \\(x86_64\\) has the SHA-256 1{64} in the action's table.*has ${server.sha256}`,
      ),
    );
    expect(error.reason).toBe('corrupt-data');
    expect(toolCacheHoldsCasd()).toBe(false);
  });

  it('verifies the default release against the real table: a different archive is refused', async () => {
    const version = INPUT_DEFAULTS[Inputs.CasdVersion];
    await expect(installCasd({ ...options(), version })).rejects.toThrow(
      `has the SHA-256 ${CASD_RELEASES[version].x86_64} in the action's table of releases, the download has ${server.sha256}`,
    );
    expect(toolCacheHoldsCasd()).toBe(false);
  });

  it('rejects a casd-sha256 that contradicts the table, naming both, before downloading', async () => {
    const before = server.requests.length;
    const error = await rejection(
      installCasd({
        ...options(),
        sha256: '2'.repeat(64),
        releases: tableWith(server.sha256),
      }),
    );
    expect(error.message).toContain(`input "casd-sha256" is ${'2'.repeat(64)}`);
    expect(error.message).toContain(`has the SHA-256 ${server.sha256} in the action's table of releases`);
    expect(error.reason).toBe('invalid-input');
    expect(server.requests.length).toBe(before);
  });

  it('accepts a casd-sha256 equal to the table', async () => {
    const result = await installCasd({
      ...options(),
      sha256: server.sha256,
      releases: tableWith(server.sha256),
    });
    expect(result.source).toBe('download');
  });

  it('downloads a version outside the table with a warning naming casd-sha256 and the checksum to pin', async () => {
    const logger = recordingLogger();
    const result = await installCasd({
      ...options(),
      logger,
      releases: { '1.4.25': { x86_64: 'a'.repeat(64) } },
    });
    expect(result.source).toBe('download');
    expect(logger.warnings).toHaveLength(1);
    const [warning] = logger.warnings;
    expect(warning).toContain("buildbox 1.4.30 is not in the action's table of release checksums");
    expect(warning).toContain('casd-sha256 is not set');
    expect(warning).toContain(`Its SHA-256 is ${server.sha256}`);
    expect(warning).toContain(
      `curl -fsSL ${server.url}/releases/1.4.30/buildbox-x86_64-linux-gnu.tgz | sha256sum`,
    );
    expect(warning).toContain('(1.4.25)');
  });

  it('downloads latest with a warning, caching it under the version it reports', async () => {
    const logger = recordingLogger();
    const result = await installCasd({ ...options(), version: 'latest', logger });
    expect(result).toMatchObject({ source: 'download', version: '1.4.30' });
    expect(result.binary).toContain(join('buildbox-casd', '1.4.30'));
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toMatch(/^casd-version is latest.*casd-sha256 is not set/);
  });

  it('downloads latest without a warning when casd-sha256 is given', async () => {
    const logger = recordingLogger();
    await installCasd({ ...options(), version: 'latest', sha256: server.sha256, logger });
    expect(logger.warnings).toEqual([]);
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
    await expect(
      installCasd({ ...options(), urlTemplate: `${server.url}/missing/{version}/buildbox-{arch}.tgz` }),
    ).rejects.toThrow(/cannot download buildbox from http:\/\/127\.0\.0\.1:\d+\/missing\/1\.4\.30\//);
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

describe('the table of buildbox releases', () => {
  it('holds the two pinned releases with their x86_64 checksums', () => {
    expect(CASD_RELEASES['1.4.25'].x86_64).toBe(
      '3a55195f04a2ae57b5485d4b85859ab95b724f2f2215ed367295dc25001783f8',
    );
    expect(CASD_RELEASES['1.4.15'].x86_64).toBe(
      '07ce72be4a7a33534a1f31a7ebf28fb1d830686c6deff068ee6353e2fc811c0d',
    );
    for (const checksums of Object.values(CASD_RELEASES)) {
      for (const sha256 of Object.values(checksums)) expect(sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('has the default casd-version as its newest release', () => {
    expect(INPUT_DEFAULTS[Inputs.CasdVersion]).toBe(newestRelease(CASD_RELEASES));
    expect(compareVersions('1.4.9', '1.4.25')).toBeLessThan(0);
    expect(newestRelease({ '1.4.9': {}, '1.4.25': {}, '1.3.40': {} })).toBe('1.4.25');
  });

  it('gives latest with the default casd-url the release permalink, not a {version} URL', () => {
    expect(releaseUrl(RELEASE_URL_TEMPLATE, 'latest', 'x86_64')).toBe(
      'https://gitlab.com/BuildGrid/buildbox/buildbox-integration/-/releases/permalink/latest/downloads/buildbox-x86_64-linux-gnu.tgz',
    );
    expect(LATEST_RELEASE_URL_TEMPLATE).not.toContain('{version}');
    expect(releaseUrl(RELEASE_URL_TEMPLATE, '1.4.25', 'x86_64')).toBe(
      'https://gitlab.com/BuildGrid/buildbox/buildbox-integration/-/releases/1.4.25/downloads/buildbox-x86_64-linux-gnu.tgz',
    );
    expect(releaseUrl('https://mirror.example/{version}/bb-{arch}.tgz', 'latest', 'x86_64')).toBe(
      'https://mirror.example/latest/bb-x86_64.tgz',
    );
  });
});
