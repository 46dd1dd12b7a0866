import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { CASD_LOG_LEVELS, type CasdLogLevel, parseListen, parseQuota } from '../casd/index.js';
import { CasError } from '../errors.js';
import { formatEndpoint, parseEndpoint } from '../grpc/endpoint.js';
import type { RemoteDescription } from '../settings/remote.js';
import { parseBytes, parseSizeSpec, type SizeSpec } from '../util/size.js';
import { type OptionSpec, type OptionValues, UsageError } from './options.js';

/** A global option: its parseArgs spec, help line and the environment variable behind it. */
interface GlobalOption {
  name: string;
  type: 'string' | 'boolean';
  env?: string;
  value?: string;
  help: string;
}

/** Every global option, accepted by every command. Flags win over environment variables. */
export const GLOBAL_OPTIONS: GlobalOption[] = [
  {
    name: 'cache-dir',
    type: 'string',
    env: 'CASD_ACTION_CACHE_DIR',
    value: 'DIR',
    help: 'local CAS directory (default ~/.cache/casd-action)',
  },
  {
    name: 'casd',
    type: 'string',
    env: 'CASD_ACTION_CASD',
    value: 'PATH',
    help: 'buildbox-casd binary (default $BUILDBOX_CASD, else buildbox-casd on PATH)',
  },
  {
    name: 'quota',
    type: 'string',
    env: 'CASD_ACTION_QUOTA',
    value: 'SIZE',
    help: 'high-water mark: 10G, 512MiB or N% of the disk',
  },
  {
    name: 'quota-low',
    type: 'string',
    env: 'CASD_ACTION_QUOTA_LOW',
    value: 'SIZE',
    help: 'low-water mark: bytes or N% of the quota (default half the quota)',
  },
  {
    name: 'reserved',
    type: 'string',
    env: 'CASD_ACTION_RESERVED',
    value: 'SIZE',
    help: 'disk space casd keeps free',
  },
  {
    name: 'protect-session-blobs',
    type: 'boolean',
    env: 'CASD_ACTION_PROTECT_SESSION_BLOBS',
    help: 'never expire blobs used since the daemon started (needs a quota)',
  },
  {
    name: 'remote',
    type: 'string',
    env: 'CASD_ACTION_REMOTE',
    value: 'URL',
    help: 'remote CAS: grpc://host:port, grpcs://host[:port], unix:/path',
  },
  {
    name: 'instance',
    type: 'string',
    env: 'CASD_ACTION_INSTANCE',
    value: 'NAME',
    help: 'REAPI instance name on the remote',
  },
  {
    name: 'server-cert',
    type: 'string',
    env: 'CASD_ACTION_SERVER_CERT',
    value: 'FILE',
    help: 'PEM file: CA of the remote (TLS)',
  },
  {
    name: 'client-cert',
    type: 'string',
    env: 'CASD_ACTION_CLIENT_CERT',
    value: 'FILE',
    help: 'PEM file: client certificate (mutual TLS)',
  },
  {
    name: 'client-key',
    type: 'string',
    env: 'CASD_ACTION_CLIENT_KEY',
    value: 'FILE',
    help: 'PEM file: client key (mutual TLS)',
  },
  {
    name: 'token-file',
    type: 'string',
    env: 'CASD_ACTION_TOKEN_FILE',
    value: 'FILE',
    help: 'file holding a bearer token for the remote (TLS only)',
  },
  { name: 'read-only', type: 'boolean', env: 'CASD_ACTION_READ_ONLY', help: 'never write to the remote' },
  {
    name: 'no-compression',
    type: 'boolean',
    env: 'CASD_ACTION_NO_COMPRESSION',
    help: 'never send or fetch zstd, even where the remote advertises it',
  },
  {
    name: 'log-level',
    type: 'string',
    env: 'CASD_ACTION_LOG_LEVEL',
    value: 'LEVEL',
    help: `casd log level: ${CASD_LOG_LEVELS.join(', ')} (default warning)`,
  },
  {
    name: 'listen',
    type: 'string',
    env: 'CASD_ACTION_LISTEN',
    value: 'HOST:PORT',
    help: 'also listen on this TCP address, e.g. 127.0.0.1:0 (0 = a free port)',
  },
  { name: 'json', type: 'boolean', help: 'print one JSON document on stdout' },
  { name: 'verbose', type: 'boolean', env: 'CASD_ACTION_VERBOSE', help: 'debug messages on stderr' },
  { name: 'help', type: 'boolean', help: 'show help' },
];

/** The global options in parseArgs form. */
export function globalOptionSpec(): OptionSpec {
  const spec: OptionSpec = {};
  for (const option of GLOBAL_OPTIONS) spec[option.name] = { type: option.type };
  spec.help.short = 'h';
  spec.verbose.short = 'v';
  return spec;
}

/** The remote as the user configured it (the library's RemoteDescription) and its URL for messages. */
export interface RemoteSettings extends RemoteDescription {
  url: string;
}

/** Everything the global options decide, resolved from flags, environment and defaults. */
export interface CliConfig {
  cacheDir: string;
  /** Undefined when neither --casd nor an environment variable names it (see locateCasd). */
  casdPath?: string;
  quota?: SizeSpec;
  quotaLow?: SizeSpec;
  reservedBytes?: number;
  protectSessionBlobs: boolean;
  remote?: RemoteSettings;
  logLevel: CasdLogLevel;
  listen?: string;
  json: boolean;
  verbose: boolean;
}

/** The default cache directory: `~/.cache/casd-action`. */
export function defaultCacheDir(): string {
  return join(homedir(), '.cache', 'casd-action');
}

const TRUE_WORDS = ['1', 'true', 'yes', 'on'];
const FALSE_WORDS = ['', '0', 'false', 'no', 'off'];

/**
 * Resolves the global options from parsed flags and `env`. Throws UsageError naming the flag
 * or environment variable whose value is malformed.
 */
export function resolveConfig(values: OptionValues, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const pick = (name: string): { value: string; from: string } | undefined => {
    const option = GLOBAL_OPTIONS.find((o) => o.name === name);
    const flag = values[name];
    if (typeof flag === 'string') return { value: flag, from: `--${name}` };
    if (option?.env && env[option.env] !== undefined && env[option.env] !== '') {
      return { value: env[option.env] as string, from: option.env };
    }
    return undefined;
  };
  const flag = (name: string): boolean => {
    if (values[name] === true) return true;
    const option = GLOBAL_OPTIONS.find((o) => o.name === name);
    const text = option?.env ? (env[option.env] ?? '').trim().toLowerCase() : '';
    if (TRUE_WORDS.includes(text)) return true;
    if (FALSE_WORDS.includes(text)) return false;
    throw new UsageError(`${option?.env}="${text}" is not a boolean; expected true or false`);
  };
  const guard = <T>(body: () => T): T => {
    try {
      return body();
    } catch (err) {
      if (err instanceof CasError) throw new UsageError(err.message);
      throw err;
    }
  };

  const cacheDir = resolve(pick('cache-dir')?.value ?? defaultCacheDir());
  const casd =
    pick('casd') ?? (env.BUILDBOX_CASD ? { value: env.BUILDBOX_CASD, from: 'BUILDBOX_CASD' } : undefined);
  const quota = pick('quota');
  const quotaLow = pick('quota-low');
  const reserved = pick('reserved');
  const logLevel = pick('log-level');
  if (logLevel && !(CASD_LOG_LEVELS as readonly string[]).includes(logLevel.value)) {
    throw new UsageError(`${logLevel.from}: "${logLevel.value}" is not one of ${CASD_LOG_LEVELS.join(', ')}`);
  }
  const listen = pick('listen');
  if (listen) guard(() => parseListen(listen.value));
  const config: CliConfig = {
    cacheDir,
    casdPath: casd?.value,
    quota: quota ? guard(() => parseQuota(quota.value, quota.from)) : undefined,
    quotaLow: quotaLow ? guard(() => parseSizeSpec(quotaLow.value, quotaLow.from)) : undefined,
    reservedBytes: reserved ? guard(() => parseBytes(reserved.value, reserved.from)) : undefined,
    protectSessionBlobs: flag('protect-session-blobs'),
    logLevel: (logLevel?.value as CasdLogLevel | undefined) ?? 'warning',
    listen: listen?.value,
    json: values.json === true,
    verbose: flag('verbose'),
  };
  if (config.quotaLow && !config.quota) {
    throw new UsageError(
      `${quotaLow?.from} was given without a quota; set --quota (or CASD_ACTION_QUOTA) too`,
    );
  }
  const remote = pick('remote');
  if (remote) {
    const endpoint = guard(() => parseEndpoint(remote.value));
    config.remote = {
      url: formatEndpoint(endpoint),
      endpoint,
      instanceName: pick('instance')?.value ?? '',
      serverCertPath: pick('server-cert')?.value,
      clientCertPath: pick('client-cert')?.value,
      clientKeyPath: pick('client-key')?.value,
      tokenFile: pick('token-file')?.value,
      readOnly: flag('read-only'),
      compression: !flag('no-compression'),
    };
    if (Boolean(config.remote.clientCertPath) !== Boolean(config.remote.clientKeyPath)) {
      throw new UsageError('--client-cert and --client-key go together; give both or neither');
    }
  }
  return config;
}

/**
 * The buildbox-casd binary: --casd / CASD_ACTION_CASD / BUILDBOX_CASD, else `buildbox-casd`
 * on PATH. Throws CasError('daemon-start') saying how to provide one.
 */
export function locateCasd(config: CliConfig, env: NodeJS.ProcessEnv = process.env): string {
  if (config.casdPath) {
    if (!existsSync(config.casdPath) || !statSync(config.casdPath).isFile()) {
      throw new CasError(
        'daemon-start',
        `buildbox-casd binary ${config.casdPath} does not exist or is not a file`,
      );
    }
    return config.casdPath;
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'buildbox-casd');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new CasError(
    'daemon-start',
    'cannot find buildbox-casd: give --casd PATH, set BUILDBOX_CASD, or put buildbox-casd on PATH',
  );
}
