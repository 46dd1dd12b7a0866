import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Inputs } from '../../src/action/constants.js';
import { parseInputs } from '../../src/action/inputs.js';
import { CasError } from '../../src/errors.js';

function parse(values: Partial<Record<Inputs, string>>) {
  return parseInputs((name) => values[name] ?? '');
}

function problem(values: Partial<Record<Inputs, string>>): string {
  try {
    parse(values);
  } catch (err) {
    expect(err).toBeInstanceOf(CasError);
    expect((err as CasError).reason).toBe('invalid-input');
    return (err as Error).message;
  }
  throw new Error('expected parseInputs to reject');
}

const dir = mkdtempSync(join(tmpdir(), 'inputs-'));
const notPem = join(dir, 'not.pem');
writeFileSync(notPem, 'hello');

describe('parseInputs', () => {
  it('gives the documented defaults when every input is empty', () => {
    const config = parse({});
    expect(config.quota).toEqual({ bytes: 5e9 });
    expect(config.quotaLow).toEqual({ percent: 50 });
    expect(config.logLevel).toBe('warning');
    expect(config.protectSessionBlobs).toBe(true);
    expect(config.push).toBe('auto');
    expect(config.saveRefs).toBe('on-success');
    expect(config.restoreTimeoutMs).toBe(600_000);
    expect(config.remote).toBeUndefined();
    expect(config.cacheDir.endsWith('.cache/casd-action')).toBe(true);
  });

  it('parses refs with and without a destination path', () => {
    const config = parse({ [Inputs.Refs]: 'toolchain\n# comment\n  deps/linux -> out/deps  \n' });
    expect(config.refs).toEqual([
      { name: 'toolchain' },
      { name: 'deps/linux', path: join(process.cwd(), 'out/deps') },
    ]);
  });

  it('accepts sizes with decimal and binary suffixes and percentages', () => {
    expect(parse({ [Inputs.Quota]: '512MiB' }).quota).toEqual({ bytes: 512 * 2 ** 20 });
    expect(parse({ [Inputs.Quota]: '75%' }).quota).toEqual({ percent: 75 });
    expect(parse({ [Inputs.Reserved]: '1G' }).reservedBytes).toBe(1e9);
  });

  it('keeps a TLS remote with its token and instance', () => {
    const config = parse({
      [Inputs.Remote]: 'grpcs://cache:9092',
      [Inputs.Token]: 'abc',
      [Inputs.InstanceName]: 'main',
    });
    expect(config.remote?.endpoint.target).toBe('cache:9092');
    expect(config.remote?.token).toBe('abc');
    expect(config.remote?.instanceName).toBe('main');
  });

  it('reports every problem at once', () => {
    const message = problem({ [Inputs.Quota]: 'lots', [Inputs.LogLevel]: 'loud' });
    expect(message.split('\n')).toHaveLength(2);
  });

  // One row per input: a malformed value, and words the message must contain.
  const table: [Inputs, Partial<Record<Inputs, string>>, string[]][] = [
    [Inputs.CasdVersion, { [Inputs.CasdVersion]: 'v1;rm' }, ['casd-version', '"v1;rm"', '1.4.30']],
    [Inputs.CasdUrl, { [Inputs.CasdUrl]: 'ftp:/x' }, ['casd-url', 'http(s)://']],
    [Inputs.CasdSha256, { [Inputs.CasdSha256]: 'abc' }, ['casd-sha256', '64 hexadecimal']],
    [Inputs.CasdPath, { [Inputs.CasdPath]: '/nonexistent/casd' }, ['casd-path', 'executable']],
    [Inputs.Quota, { [Inputs.Quota]: 'lots' }, ['quota', '"lots"', '10G']],
    [Inputs.Quota, { [Inputs.Quota]: '150%' }, ['quota', '100%']],
    [Inputs.QuotaLow, { [Inputs.QuotaLow]: '-3' }, ['quota-low', '"-3"']],
    [Inputs.QuotaLow, { [Inputs.Quota]: '1G', [Inputs.QuotaLow]: '2G' }, ['quota-low', 'not above quota']],
    [Inputs.Reserved, { [Inputs.Reserved]: '5 parsecs' }, ['reserved', '"5 parsecs"']],
    [
      Inputs.ProtectSessionBlobs,
      { [Inputs.ProtectSessionBlobs]: 'maybe' },
      ['protect-session-blobs', 'true or false'],
    ],
    [Inputs.LogLevel, { [Inputs.LogLevel]: 'loud' }, ['log-level', 'error, warning, info, debug, trace']],
    [Inputs.Listen, { [Inputs.Listen]: '0.0.0.0:80' }, ['listen', 'loopback']],
    [Inputs.Remote, { [Inputs.Remote]: 'ftp://cache' }, ['remote', 'ftp', 'grpc://host:port']],
    [Inputs.InstanceName, { [Inputs.InstanceName]: 'main' }, ['instance-name', 'unless remote is set']],
    [
      Inputs.RemoteAsset,
      { [Inputs.Remote]: 'grpc://a:1', [Inputs.RemoteAsset]: 'nope' },
      ['remote-asset', 'accepted forms'],
    ],
    [
      Inputs.ActionCache,
      { [Inputs.Remote]: 'grpc://a:1', [Inputs.ActionCache]: 'grpc://a' },
      ['action-cache', 'port'],
    ],
    [
      Inputs.ServerCert,
      { [Inputs.Remote]: 'grpcs://a', [Inputs.ServerCert]: '/nonexistent.pem' },
      ['server-cert', 'ENOENT'],
    ],
    [
      Inputs.ClientCert,
      { [Inputs.Remote]: 'grpcs://a', [Inputs.ClientCert]: notPem },
      ['client-cert', 'BEGIN'],
    ],
    [
      Inputs.ClientKey,
      { [Inputs.Remote]: 'grpcs://a', [Inputs.ClientCert]: '-----BEGIN CERTIFICATE-----' },
      ['client-key', 'mutual TLS'],
    ],
    [Inputs.Token, { [Inputs.Token]: 's3cret' }, ['token', 'unless remote is set']],
    [Inputs.Token, { [Inputs.Remote]: 'grpc://a:1', [Inputs.Token]: 's3cret' }, ['token', 'only over TLS']],
    [
      Inputs.TokenFile,
      { [Inputs.Remote]: 'grpc://a:1', [Inputs.TokenFile]: '/nonexistent/token' },
      ['token-file', 'readable'],
    ],
    [Inputs.ReadOnly, { [Inputs.ReadOnly]: 'sometimes' }, ['read-only', 'true or false']],
    [Inputs.Push, { [Inputs.Push]: 'force' }, ['push', 'auto, true, false']],
    [Inputs.Refs, { [Inputs.Refs]: '../../etc/passwd' }, ['refs', '".."']],
    [Inputs.Refs, { [Inputs.Refs]: 'a -> b -> c' }, ['refs', 'name -> path']],
    [Inputs.Path, { [Inputs.Key]: 'k' }, ['path', 'since key is set']],
    [Inputs.Key, { [Inputs.Path]: 'out' }, ['key', 'since path is set']],
    [
      Inputs.RestoreKeys,
      { [Inputs.Path]: 'out', [Inputs.Key]: 'k', [Inputs.RestoreKeys]: 'a,b' },
      ['restore-keys', 'commas'],
    ],
    [Inputs.SaveLocalCache, { [Inputs.SaveLocalCache]: 'please' }, ['save-local-cache', 'true or false']],
    [Inputs.SaveRefs, { [Inputs.SaveRefs]: 'never' }, ['save-refs', 'on-success, always']],
    [Inputs.RestoreTimeout, { [Inputs.RestoreTimeout]: 'soon' }, ['restore-timeout', '10m']],
    [Inputs.SaveTimeout, { [Inputs.SaveTimeout]: '5 days' }, ['save-timeout', '10m']],
    [
      Inputs.FailOnCacheError,
      { [Inputs.FailOnCacheError]: 'yesplease' },
      ['fail-on-cache-error', 'true or false'],
    ],
  ];
  it.each(table)('rejects a malformed %s with a message naming it', (_input, values, words) => {
    const message = problem(values);
    for (const word of words) expect(message).toContain(word);
  });

  it('never shows a secret value in its messages', () => {
    const message = problem({ [Inputs.Token]: 'hunter2-secret' });
    expect(message).not.toContain('hunter2-secret');
  });

  it('covers every input in the table of malformed values', () => {
    const covered = new Set(table.map(([input]) => input));
    const uncovered = Object.values(Inputs).filter(
      (i) => !covered.has(i) && i !== Inputs.CacheDir && i !== Inputs.GithubToken,
    );
    expect(uncovered).toEqual([]);
  });
});
