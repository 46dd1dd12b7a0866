import { mkdir, statfs } from 'node:fs/promises';
import { CasError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseSizeSpec, resolveSize, type SizeSpec } from '../util/size.js';
import type { CasdLogLevel, CasdRemoteFlags } from './args.js';
import type { StartOptions } from './daemon.js';

/**
 * Parses a quota (casd's high-water mark): a size above 0 bytes, or N% of the filesystem.
 * `what` names the setting in errors (`quota`, `--quota`). Both front ends call it, so a bad
 * quota reads the same in the action and the CLI. Throws CasError('invalid-input').
 */
export function parseQuota(text: string, what: string): SizeSpec {
  const spec = parseSizeSpec(text, what);
  // Why refuse 0 rather than read it as "no quota": 0% is refused already, and casd would be
  // given a low-water mark without a high one. No quota is said by giving none (CLI).
  if ('bytes' in spec && spec.bytes <= 0) {
    throw new CasError(
      'invalid-input',
      `${what}: "${text}" must be above 0 bytes; give a size such as 10G or 512MiB, or a percentage of the disk such as 75%`,
    );
  }
  return spec;
}

/** Size of the filesystem holding `dir` (created if missing), for quotas given as a percentage. */
export async function filesystemBytes(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const stats = await statfs(dir);
  return stats.blocks * stats.bsize;
}

/** The daemon as a front end (the action's inputs, the CLI's options) describes it. */
export interface DaemonSettings {
  /** The buildbox-casd executable. */
  binary: string;
  cacheDir: string;
  logLevel?: CasdLogLevel;
  /** High-water mark; no quota when absent. */
  quota?: SizeSpec;
  quotaLow?: SizeSpec;
  reservedBytes?: number;
  protectSessionBlobs?: boolean;
  /** A loopback TCP address to listen on too, `host:port` (0 = a free port). */
  listen?: string;
  /** Start the Bazel bridge on the `listen` host. */
  bazelBridge?: boolean;
  /** casd's flags proxying to a remote (proxyFlags), when it proxies. */
  remote?: CasdRemoteFlags;
  logger?: Logger;
}

/**
 * casd's start options from `settings`: the one place a quota given as a percentage is
 * resolved against the cache directory's filesystem. Creates the cache directory.
 */
export async function daemonStartOptions(settings: DaemonSettings): Promise<StartOptions> {
  await mkdir(settings.cacheDir, { recursive: true });
  const quota = settings.quota;
  const quotaHighBytes =
    quota === undefined
      ? undefined
      : resolveSize(quota, 'percent' in quota ? await filesystemBytes(settings.cacheDir) : 0);
  return {
    binary: settings.binary,
    cacheDir: settings.cacheDir,
    logLevel: settings.logLevel,
    quotaHighBytes: quotaHighBytes !== undefined && quotaHighBytes > 0 ? quotaHighBytes : undefined,
    quotaLow: settings.quotaLow,
    reservedBytes: settings.reservedBytes,
    protectSessionBlobs: settings.protectSessionBlobs,
    listen: settings.listen,
    bazelBridge: settings.bazelBridge,
    remote: settings.remote,
    logger: settings.logger,
  };
}
