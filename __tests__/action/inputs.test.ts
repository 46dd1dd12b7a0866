import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RELEASE_URL_TEMPLATE } from '../../src/action/casd-releases.js';
import { Inputs } from '../../src/action/constants.js';
import { parseInputs } from '../../src/action/inputs.js';
import { BAD_INPUTS } from './bad-inputs.js';
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
    expect(config.install).toEqual({ version: '1.4.25', urlTemplate: RELEASE_URL_TEMPLATE });
    expect(config.saveLocalCache).toBe(true);
  });

  it('saves the local cache by default (auto) only when no remote is set', () => {
    expect(parse({}).saveLocalCache).toBe(true);
    expect(parse({ [Inputs.SaveLocalCache]: 'auto' }).saveLocalCache).toBe(true);
    expect(parse({ [Inputs.Remote]: 'grpc://cache:9092' }).saveLocalCache).toBe(false);
    expect(
      parse({ [Inputs.Remote]: 'grpc://cache:9092', [Inputs.SaveLocalCache]: 'Auto' }).saveLocalCache,
    ).toBe(false);
  });

  it('saves the local cache when save-local-cache is true, even with a remote', () => {
    expect(
      parse({ [Inputs.Remote]: 'grpc://cache:9092', [Inputs.SaveLocalCache]: 'true' }).saveLocalCache,
    ).toBe(true);
  });

  it('does not save the local cache when save-local-cache is false, even without a remote', () => {
    expect(parse({ [Inputs.SaveLocalCache]: 'false' }).saveLocalCache).toBe(false);
  });

  it('sends zstd where the remote offers it unless compression is off, which it names when wrong', () => {
    expect(parse({ [Inputs.Remote]: 'grpc://cache:9092' }).remote?.compression).toBe(true);
    expect(
      parse({ [Inputs.Remote]: 'grpc://cache:9092', [Inputs.Compression]: 'off' }).remote?.compression,
    ).toBe(false);
    expect(problem({ [Inputs.Compression]: 'gzip' })).toBe(
      'input "compression" has value "gzip"; expected one of auto, off',
    );
  });

  it('rejects another save-local-cache value, naming auto, true and false', () => {
    expect(problem({ [Inputs.SaveLocalCache]: 'sometimes' })).toBe(
      'input "save-local-cache" has value "sometimes"; expected auto, true or false',
    );
  });

  it('reads lookup-only and fail-on-cache-miss as actions/cache does, off by default', () => {
    expect(parse({})).toMatchObject({ lookupOnly: false, failOnCacheMiss: false });
    const config = parse({
      [Inputs.Path]: 'out',
      [Inputs.Key]: 'k',
      [Inputs.LookupOnly]: 'true',
      [Inputs.FailOnCacheMiss]: 'TRUE',
    });
    expect(config).toMatchObject({ lookupOnly: true, failOnCacheMiss: true });
  });

  it('rejects lookup-only without a key, naming key and lookup-only', () => {
    expect(problem({ [Inputs.LookupOnly]: 'true' })).toBe(
      'input "key" has value ""; expected a key, since lookup-only is set',
    );
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

  it.each(BAD_INPUTS)('rejects a malformed %s with a message naming it', (_input, values, words) => {
    const message = problem(values);
    for (const word of words) expect(message).toContain(word);
  });

  it('never shows a secret value in its messages', () => {
    const message = problem({ [Inputs.Token]: 'hunter2-secret' });
    expect(message).not.toContain('hunter2-secret');
  });

  it('covers every input in the table of malformed values', () => {
    const covered = new Set(BAD_INPUTS.map(([input]) => input));
    const uncovered = Object.values(Inputs).filter(
      (i) => !covered.has(i) && i !== Inputs.CacheDir && i !== Inputs.GithubToken,
    );
    expect(uncovered).toEqual([]);
  });
});
