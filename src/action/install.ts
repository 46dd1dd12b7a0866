import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as io from '@actions/io';
import * as tc from '@actions/tool-cache';
import { casdVersion } from '../casd/index.js';
import { CasError } from '../errors.js';
import type { Logger } from '../logger.js';
import { CASD_RELEASES, type CasdReleases, releaseUrl } from './casd-releases.js';

const TOOL_NAME = 'buildbox-casd';
const BINARY = 'buildbox-casd';

export interface InstallOptions {
  version: string;
  urlTemplate: string;
  sha256?: string;
  casdPath?: string;
  logger: Logger;
  /** Checksums of known releases; defaults to CASD_RELEASES (tests pass their own). */
  releases?: CasdReleases;
  /** For tests of the platform check; defaults to this process's. */
  platform?: NodeJS.Platform;
  arch?: string;
}

export interface InstallResult {
  binary: string;
  version: string;
  source: 'casd-path' | 'path' | 'tool-cache' | 'download';
}

/** The name buildbox releases use for this machine, or undefined where none is published. */
export function releaseArch(platform: NodeJS.Platform, arch: string): string | undefined {
  if (platform !== 'linux') return undefined;
  return arch === 'x64' ? 'x86_64' : undefined;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Finds the directory holding `buildbox-casd` in an extracted release (top level or one down). */
async function findBinaryDir(root: string): Promise<string | undefined> {
  const queue = [root];
  for (let depth = 0; depth < 3 && queue.length > 0; depth++) {
    for (const dir of queue.splice(0)) {
      const entries = await readdir(dir, { withFileTypes: true });
      if (entries.some((e) => e.name === BINARY && !e.isDirectory())) return dir;
      queue.push(...entries.filter((e) => e.isDirectory()).map((e) => join(dir, e.name)));
    }
  }
  return undefined;
}

/**
 * Throws when the user's casd-sha256 contradicts the checksum the action knows for the
 * release: that is a wrong input, whatever the download would hold.
 */
function checkGivenSha256(
  options: InstallOptions,
  arch: string | undefined,
  known: string | undefined,
): void {
  if (known === undefined || options.sha256 === undefined || options.sha256 === known) return;
  throw new CasError(
    'invalid-input',
    `input "casd-sha256" is ${options.sha256}, but buildbox ${options.version} (${arch}) has the SHA-256 ` +
      `${known} in the action's table of releases; remove casd-sha256 (a release in the table is always ` +
      'verified) or correct it',
  );
}

/** The warning for a download that no checksum vouches for: what to pin, and its value. */
function unverifiedWarning(
  options: InstallOptions,
  url: string,
  actual: string,
  releases: CasdReleases,
): string {
  const why =
    options.version === 'latest'
      ? 'casd-version is latest, whose archive changes with each release'
      : `buildbox ${options.version} is not in the action's table of release checksums`;
  const known = Object.keys(releases);
  return (
    `${why} and casd-sha256 is not set, so the download from ${url} is not verified. ` +
    `Its SHA-256 is ${actual}: once you trust it, pass that as casd-sha256 (or compute it with ` +
    `\`curl -fsSL ${url} | sha256sum\`) so that a changed archive fails the step` +
    (known.length > 0 ? `, or use a casd-version whose checksum the action knows (${known.join(', ')})` : '')
  );
}

/**
 * Finds or installs buildbox-casd: `casdPath` as given; else a `buildbox-casd` on PATH at the
 * wanted version; else the tool cache; else download the release, verify it, extract, and
 * `cacheDir` it so the next job on a self-hosted runner skips the download. A download is
 * verified against `sha256` or, for a release in `releases`, against the table (a `sha256`
 * that contradicts the table is an input error); with neither it goes on with a warning. The
 * binary must answer `--version /`. Throws CasError with a message that names the way out.
 */
export async function installCasd(options: InstallOptions): Promise<InstallResult> {
  const { logger } = options;
  const releases = options.releases ?? CASD_RELEASES;
  const platform = options.platform ?? process.platform;
  const nodeArch = options.arch ?? process.arch;
  const arch = releaseArch(platform, nodeArch);
  const known = arch === undefined ? undefined : releases[options.version]?.[arch];
  checkGivenSha256(options, arch, known);

  if (options.casdPath) {
    return {
      binary: options.casdPath,
      version: await casdVersion(options.casdPath),
      source: 'casd-path',
    };
  }
  const onPath = await io.which(BINARY, false);
  if (onPath) {
    const version = await casdVersion(onPath).catch(() => undefined);
    if (version && (options.version === 'latest' || version === options.version)) {
      logger.info(`Using ${onPath} (buildbox-casd ${version}) found on PATH`);
      return { binary: onPath, version, source: 'path' };
    }
    logger.info(`Ignoring ${onPath}: version ${version ?? 'unknown'}, wanted ${options.version}`);
  }

  if (!arch) {
    throw new CasError(
      'invalid-input',
      `buildbox publishes buildbox-casd for x86_64 Linux (glibc) only, and this runner is ${platform}/${nodeArch}; ` +
        'build or obtain buildbox-casd for it and pass its path as the casd-path input',
    );
  }

  if (options.version !== 'latest') {
    const cached = tc.find(TOOL_NAME, options.version, arch);
    if (cached) {
      const binary = join(cached, BINARY);
      logger.info(`Using buildbox-casd ${options.version} from the tool cache`);
      return { binary, version: await casdVersion(binary), source: 'tool-cache' };
    }
  }

  const url = releaseUrl(options.urlTemplate, options.version, arch);
  logger.info(`Downloading ${url}`);
  let archive: string;
  try {
    archive = await tc.downloadTool(url);
  } catch (err) {
    throw new CasError(
      'io',
      `cannot download buildbox from ${url}: ${(err as Error).message}; check casd-url and casd-version, or pass casd-path`,
      { cause: err },
    );
  }
  const actual = await sha256OfFile(archive);
  const expected = options.sha256 ?? known;
  if (expected === undefined) {
    logger.warning(unverifiedWarning(options, url, actual, releases));
  } else if (actual !== expected) {
    // A wrong casd-sha256 is the user's to fix; an archive unlike the table's is not.
    throw new CasError(
      options.sha256 !== undefined ? 'invalid-input' : 'corrupt-data',
      options.sha256 !== undefined
        ? `casd-sha256 mismatch for ${url}: expected ${expected}, the download has ${actual}; nothing was installed`
        : `checksum mismatch for ${url}: buildbox ${options.version} (${arch}) has the SHA-256 ${expected} in the ` +
            `action's table of releases, the download has ${actual}; nothing was installed (check casd-url, or pass casd-path)`,
    );
  }
  const extracted = await tc.extractTar(archive);
  const binaryDir = await findBinaryDir(extracted);
  if (!binaryDir) {
    throw new CasError('io', `the archive from ${url} holds no ${BINARY}; check casd-url, or pass casd-path`);
  }
  const version = await casdVersion(join(binaryDir, BINARY));
  const cachedDir = await tc.cacheDir(
    binaryDir,
    TOOL_NAME,
    options.version === 'latest' ? version : options.version,
    arch,
  );
  const binary = join(cachedDir, BINARY);
  await stat(binary);
  return { binary, version, source: 'download' };
}
