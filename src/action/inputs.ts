import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { validateRefName } from '../cas/store/ref-names.js';
import { CasError } from '../errors.js';
import { parseQuota } from '../casd/start-options.js';
import { checkTokenTransport, type Endpoint, parseEndpoint } from '../grpc/endpoint.js';
import { parseBytes, parseDurationMs, parseSizeSpec, type SizeSpec } from '../util/size.js';
import { Inputs } from './constants.js';
import { INPUT_DEFAULTS } from './defaults.js';

export const LOG_LEVELS = ['error', 'warning', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A ref to restore: `name`, or `name -> path`. */
export interface RefRequest {
  name: string;
  path?: string;
}

export interface RemoteConfig {
  endpoint: Endpoint;
  instanceName: string;
  assetEndpoint?: Endpoint;
  actionCacheEndpoint?: Endpoint;
  serverCert?: Buffer;
  clientCert?: Buffer;
  clientKey?: Buffer;
  token?: string;
  tokenFile?: string;
  /** zstd where the remote advertises it (`compression: auto`); false with `off`. */
  compression: boolean;
}

/** Every input, parsed and validated: the only thing the rest of the action reads. */
export interface ActionConfig {
  install: { version: string; urlTemplate: string; sha256?: string; casdPath?: string };
  cacheDir: string;
  quota: SizeSpec;
  quotaLow: SizeSpec;
  reservedBytes?: number;
  protectSessionBlobs: boolean;
  logLevel: LogLevel;
  listen?: { host: string; port: number };
  remote?: RemoteConfig;
  readOnly: boolean;
  push: 'auto' | 'true' | 'false';
  refs: RefRequest[];
  paths: string[];
  key?: string;
  restoreKeys: string[];
  /** actions/cache's lookup-only: find key or a restore key, restore nothing. */
  lookupOnly: boolean;
  /** actions/cache's fail-on-cache-miss: fail the main step when nothing matched. */
  failOnCacheMiss: boolean;
  restoreLinks: boolean;
  saveLocalCache: boolean;
  saveRefs: 'on-success' | 'always';
  restoreTimeoutMs: number;
  saveTimeoutMs: number;
  failOnCacheError: boolean;
  githubToken?: string;
}

/** Reads one raw input; the action passes core.getInput, tests a map. */
export type InputReader = (name: Inputs) => string;

/** Inputs whose values are secrets: masked before anything else happens. */
export const SECRET_INPUTS: readonly Inputs[] = [Inputs.Token, Inputs.ClientKey, Inputs.GithubToken];

class InputProblems {
  readonly messages: string[] = [];
  add(input: Inputs, value: string, expected: string): void {
    const shown = SECRET_INPUTS.includes(input) ? '***' : JSON.stringify(value);
    this.messages.push(`input "${input}" has value ${shown}; expected ${expected}`);
  }
  /** Runs `parse`, recording its error against the input instead of throwing. */
  try<T>(input: Inputs, parse: () => T): T | undefined {
    try {
      return parse();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const prefix = `${input}: `;
      this.messages.push(
        `input "${input}": ${message.startsWith(prefix) ? message.slice(prefix.length) : message}`,
      );
      return undefined;
    }
  }
}

function parseBoolean(
  problems: InputProblems,
  input: Inputs,
  raw: string,
  expected = 'true or false',
): boolean {
  const value = raw.trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(value)) return true;
  if (['false', 'no', 'off', '0'].includes(value)) return false;
  problems.add(input, raw, expected);
  return false;
}

function oneOf<T extends string>(
  problems: InputProblems,
  input: Inputs,
  raw: string,
  allowed: readonly T[],
): T {
  const value = raw.trim().toLowerCase() as T;
  if (allowed.includes(value)) return value;
  problems.add(input, raw, `one of ${allowed.join(', ')}`);
  return allowed[0];
}

/** Non-empty lines of a multi-line input, trimmed; `#` starts a comment line. */
export function lines(raw: string): string[] {
  return raw
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** `~` and `~/x` expanded against the home directory (as the runner's shell would). */
export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return resolve(homedir(), path.slice(2));
  return resolve(path);
}

function parseRefLine(problems: InputProblems, line: string): RefRequest | undefined {
  const [name, path, ...rest] = line.split('->').map((part) => part.trim());
  if (rest.length > 0 || name === '' || path === '') {
    problems.add(Inputs.Refs, line, 'one ref per line: `name` or `name -> path`');
    return undefined;
  }
  // The same rule as the store and the CLI, with the same message.
  const valid = problems.try(Inputs.Refs, () => {
    validateRefName(name);
    return true;
  });
  if (!valid) return undefined;
  return path === undefined ? { name } : { name, path: resolve(path) };
}

function readPem(problems: InputProblems, input: Inputs, raw: string): Buffer | undefined {
  const value = raw.trim();
  if (value === '') return undefined;
  if (value.includes('-----BEGIN ')) return Buffer.from(value.endsWith('\n') ? value : `${value}\n`);
  try {
    const data = readFileSync(expandHome(value));
    if (!data.includes('-----BEGIN ')) {
      problems.add(input, raw, 'PEM text or the path of a PEM file (the file has no "-----BEGIN" line)');
      return undefined;
    }
    return data;
  } catch (err) {
    problems.add(
      input,
      raw,
      `PEM text or the path of a readable PEM file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
    return undefined;
  }
}

function parseListen(problems: InputProblems, raw: string): { host: string; port: number } | undefined {
  const value = raw.trim();
  if (value === '') return undefined;
  const match = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):(\d+)$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    problems.add(
      Inputs.Listen,
      raw,
      'a loopback address and port such as 127.0.0.1:0 (0 picks a free port) or [::1]:8980',
    );
    return undefined;
  }
  return { host: match[1] === 'localhost' ? '127.0.0.1' : match[1], port };
}

function parseOptionalEndpoint(problems: InputProblems, input: Inputs, raw: string): Endpoint | undefined {
  if (raw.trim() === '') return undefined;
  return problems.try(input, () => parseEndpoint(raw));
}

/**
 * Parses and validates every input into one ActionConfig. All problems are collected and
 * thrown together as one CasError('invalid-input'), each line naming the input, the value
 * and what is accepted; nothing has been started or written when it throws.
 */
export function parseInputs(read: InputReader): ActionConfig {
  const problems = new InputProblems();
  // Every input's default comes from one place (defaults.ts, held to action.yml by a test).
  const get = (name: Inputs): string => {
    const raw = read(name) ?? '';
    return raw.trim() === '' ? INPUT_DEFAULTS[name] : raw;
  };

  const version = get(Inputs.CasdVersion).trim();
  if (!/^(latest|\d+\.\d+\.\d+([.-][0-9A-Za-z.-]+)?)$/.test(version)) {
    problems.add(Inputs.CasdVersion, version, 'a release version such as 1.4.30, or latest');
  }
  const urlTemplate = get(Inputs.CasdUrl).trim();
  if (urlTemplate !== '' && !/^(https?|file):\/\/\S+$/.test(urlTemplate)) {
    problems.add(
      Inputs.CasdUrl,
      urlTemplate,
      'an http(s):// or file:// URL, optionally with {version} and {arch}',
    );
  }
  const sha256 = get(Inputs.CasdSha256).trim().toLowerCase() || undefined;
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) {
    problems.add(Inputs.CasdSha256, sha256, '64 hexadecimal characters (the SHA-256 of the archive)');
  }
  const casdPathRaw = get(Inputs.CasdPath).trim();
  let casdPath: string | undefined;
  if (casdPathRaw !== '') {
    casdPath = expandHome(casdPathRaw);
    try {
      accessSync(casdPath, fsConstants.X_OK);
    } catch {
      problems.add(Inputs.CasdPath, casdPathRaw, 'the path of an executable buildbox-casd binary');
    }
  }

  const cacheDirRaw = get(Inputs.CacheDir).trim();
  const cacheDir = expandHome(cacheDirRaw);

  const quota = problems.try(Inputs.Quota, () => parseQuota(get(Inputs.Quota), Inputs.Quota)) ?? {
    bytes: 0,
  };
  const quotaLow = problems.try(Inputs.QuotaLow, () =>
    parseSizeSpec(get(Inputs.QuotaLow), Inputs.QuotaLow),
  ) ?? { percent: 50 };
  if ('bytes' in quota && 'bytes' in quotaLow && quotaLow.bytes > quota.bytes && quota.bytes > 0) {
    problems.add(Inputs.QuotaLow, get(Inputs.QuotaLow), `a size not above quota (${get(Inputs.Quota)})`);
  }
  const reservedRaw = get(Inputs.Reserved).trim();
  const reservedBytes =
    reservedRaw === ''
      ? undefined
      : problems.try(Inputs.Reserved, () => parseBytes(reservedRaw, Inputs.Reserved));

  const logLevel = oneOf(problems, Inputs.LogLevel, get(Inputs.LogLevel), LOG_LEVELS);
  const listen = parseListen(problems, get(Inputs.Listen));

  const token = get(Inputs.Token).trim() || undefined;
  const tokenFileRaw = get(Inputs.TokenFile).trim();
  let tokenFile: string | undefined;
  if (tokenFileRaw !== '') {
    tokenFile = expandHome(tokenFileRaw);
    try {
      accessSync(tokenFile, fsConstants.R_OK);
    } catch {
      problems.add(Inputs.TokenFile, tokenFileRaw, 'the path of a readable file holding the token');
    }
  }
  if (token && tokenFile) problems.add(Inputs.TokenFile, tokenFileRaw, 'token or token-file, not both');

  const endpoint = parseOptionalEndpoint(problems, Inputs.Remote, get(Inputs.Remote));
  const assetEndpoint = parseOptionalEndpoint(problems, Inputs.RemoteAsset, get(Inputs.RemoteAsset));
  const actionCacheEndpoint = parseOptionalEndpoint(problems, Inputs.ActionCache, get(Inputs.ActionCache));
  const serverCert = readPem(problems, Inputs.ServerCert, get(Inputs.ServerCert));
  const clientCert = readPem(problems, Inputs.ClientCert, get(Inputs.ClientCert));
  const clientKey = readPem(problems, Inputs.ClientKey, get(Inputs.ClientKey));
  if (Boolean(clientCert) !== Boolean(clientKey)) {
    const missing = clientCert ? Inputs.ClientKey : Inputs.ClientCert;
    problems.add(
      missing,
      '',
      `a value, since ${clientCert ? Inputs.ClientCert : Inputs.ClientKey} is set (mutual TLS needs both)`,
    );
  }
  const instanceName = get(Inputs.InstanceName).trim();
  const remoteOnly = [
    [Inputs.RemoteAsset, assetEndpoint],
    [Inputs.ActionCache, actionCacheEndpoint],
    [Inputs.ServerCert, serverCert],
    [Inputs.Token, token],
    [Inputs.TokenFile, tokenFile],
    [Inputs.InstanceName, instanceName || undefined],
  ] as const;
  if (!endpoint && get(Inputs.Remote).trim() === '') {
    for (const [input, value] of remoteOnly) {
      if (value !== undefined)
        problems.add(input, input === Inputs.Token ? '***' : get(input), 'no value unless remote is set');
    }
  }
  if (endpoint && (token || tokenFile)) {
    problems.try(token ? Inputs.Token : Inputs.TokenFile, () => checkTokenTransport(endpoint));
  }
  if (endpoint && !endpoint.secure && (serverCert || clientCert)) {
    problems.add(
      Inputs.Remote,
      get(Inputs.Remote),
      'a grpcs:// or https:// endpoint, since TLS certificates are given',
    );
  }
  const compression =
    oneOf(problems, Inputs.Compression, get(Inputs.Compression), ['auto', 'off'] as const) !== 'off';
  const remote: RemoteConfig | undefined = endpoint
    ? {
        endpoint,
        instanceName,
        assetEndpoint,
        actionCacheEndpoint,
        serverCert,
        clientCert,
        clientKey,
        token,
        tokenFile,
        compression,
      }
    : undefined;

  const readOnly = parseBoolean(problems, Inputs.ReadOnly, get(Inputs.ReadOnly));
  const push = oneOf(problems, Inputs.Push, get(Inputs.Push), ['auto', 'true', 'false'] as const);
  const refs = lines(get(Inputs.Refs))
    .map((line) => parseRefLine(problems, line))
    .filter((ref): ref is RefRequest => ref !== undefined);
  const paths = lines(get(Inputs.Path));
  const key = get(Inputs.Key).trim() || undefined;
  const restoreKeys = lines(get(Inputs.RestoreKeys));
  if (paths.length > 0 && !key) problems.add(Inputs.Key, '', 'a key, since path is set');
  if (key && paths.length === 0) problems.add(Inputs.Path, '', 'one or more paths, since key is set');
  if (restoreKeys.length > 0 && !key) problems.add(Inputs.Key, '', 'a key, since restore-keys is set');
  const lookupOnly = parseBoolean(problems, Inputs.LookupOnly, get(Inputs.LookupOnly));
  const failOnCacheMiss = parseBoolean(problems, Inputs.FailOnCacheMiss, get(Inputs.FailOnCacheMiss));
  for (const [input, set] of [
    [Inputs.LookupOnly, lookupOnly],
    [Inputs.FailOnCacheMiss, failOnCacheMiss],
  ] as const) {
    if (set && !key) problems.add(Inputs.Key, '', `a key, since ${input} is set`);
  }
  for (const k of [key, ...restoreKeys]) {
    if (k !== undefined && (k.length > 512 || k.includes(','))) {
      problems.add(
        k === key ? Inputs.Key : Inputs.RestoreKeys,
        k,
        'a key of at most 512 characters without commas',
      );
    }
  }

  const restoreLinks = parseBoolean(problems, Inputs.RestoreLinks, get(Inputs.RestoreLinks));
  // auto: persist the local cache only without a remote, which already holds the blobs.
  const saveLocalCacheRaw = get(Inputs.SaveLocalCache);
  const saveLocalCache =
    saveLocalCacheRaw.trim().toLowerCase() === 'auto'
      ? remote === undefined
      : parseBoolean(problems, Inputs.SaveLocalCache, saveLocalCacheRaw, 'auto, true or false');
  const saveRefs = oneOf(problems, Inputs.SaveRefs, get(Inputs.SaveRefs), ['on-success', 'always'] as const);
  const restoreTimeoutMs =
    problems.try(Inputs.RestoreTimeout, () =>
      parseDurationMs(get(Inputs.RestoreTimeout), Inputs.RestoreTimeout),
    ) ?? 0;
  const saveTimeoutMs =
    problems.try(Inputs.SaveTimeout, () => parseDurationMs(get(Inputs.SaveTimeout), Inputs.SaveTimeout)) ?? 0;
  const failOnCacheError = parseBoolean(problems, Inputs.FailOnCacheError, get(Inputs.FailOnCacheError));
  const protectSessionBlobs = parseBoolean(
    problems,
    Inputs.ProtectSessionBlobs,
    get(Inputs.ProtectSessionBlobs),
  );

  if (problems.messages.length > 0) {
    throw new CasError('invalid-input', problems.messages.join('\n'));
  }
  return {
    install: { version, urlTemplate, sha256, casdPath },
    cacheDir,
    quota,
    quotaLow,
    reservedBytes,
    protectSessionBlobs,
    logLevel,
    listen,
    remote,
    readOnly,
    push,
    refs,
    paths,
    key,
    restoreKeys,
    lookupOnly,
    failOnCacheMiss,
    restoreLinks,
    saveLocalCache,
    saveRefs,
    restoreTimeoutMs,
    saveTimeoutMs,
    failOnCacheError,
    githubToken: get(Inputs.GithubToken).trim() || undefined,
  };
}
