import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Inputs } from '../../src/action/constants.js';
import { parseInputs } from '../../src/action/inputs.js';
import {
  remoteDescription,
  removeSecretFiles,
  secretFilePaths,
  writeSecretFiles,
} from '../../src/action/secret-files.js';
import { remoteFlags } from '../../src/cli/session.js';
import { resolveConfig } from '../../src/cli/config.js';
import { parseEndpoint, tokenRefusal } from '../../src/grpc/endpoint.js';
import { casdProxyFlags, remoteSpecFrom } from '../../src/settings/remote.js';

function parse(values: Partial<Record<Inputs, string>>) {
  return parseInputs((name) => values[name] ?? '');
}

describe('tokens only over TLS', () => {
  const refusal = tokenRefusal(parseEndpoint('grpc://127.0.0.1:1'))!;

  it('is one rule, with one message, in the action and the CLI', () => {
    let action = '';
    try {
      parse({ [Inputs.Remote]: 'grpc://127.0.0.1:1', [Inputs.Token]: 's3cret' });
    } catch (err) {
      action = (err as Error).message;
    }
    expect(action).toContain(refusal);
    const cli = resolveConfig({ remote: 'grpc://127.0.0.1:1', 'token-file': '/etc/hostname' }, {});
    expect(() => remoteFlags(cli.remote)).toThrow(refusal);
  });

  it('lets a token go to a TLS remote', () => {
    expect(tokenRefusal(parseEndpoint('grpcs://cache.example'))).toBeUndefined();
  });
});

describe("the job's one token file", () => {
  it('is written once, and the rest of the job reads that file instead of the text', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'secrets-'));
    const config = parse({ [Inputs.Remote]: 'grpcs://cache.example', [Inputs.Token]: ' s3cret ' });
    const secrets = await writeSecretFiles(config.remote!, parent);
    try {
      expect(readFileSync(secrets.tokenPath!, 'utf8')).toBe('s3cret');
      expect(statSync(secrets.tokenPath!).mode & 0o777).toBe(0o600);
      // What restore, lookup and push register with (the post step finds the files again).
      const again = secretFilePaths(config.remote!, secrets.dir);
      const spec = remoteSpecFrom(remoteDescription(config.remote!, again, true));
      expect(spec.tokenFile).toBe(secrets.tokenPath);
      const flags = casdProxyFlags(remoteDescription(config.remote!, secrets, true));
      expect(flags.cas?.accessTokenPath).toBe(secrets.tokenPath);
      expect(flags.readOnly).toBe(true);
      expect(readdirSync(parent)).toEqual([secrets.dir.slice(parent.length + 1)]);
    } finally {
      await removeSecretFiles(secrets.dir);
    }
  });

  it('stays the token-file input when one is given', () => {
    const config = parse({ [Inputs.Remote]: 'grpcs://cache.example', [Inputs.TokenFile]: '/etc/hostname' });
    expect(secretFilePaths(config.remote!, '/nowhere').tokenPath).toBe('/etc/hostname');
  });
});

describe('compression', () => {
  it('reaches the library the same from the action (compression: off) and the CLI (--no-compression)', () => {
    const action = parse({ [Inputs.Remote]: 'grpc://cache:9092', [Inputs.Compression]: 'off' });
    const fromAction = remoteSpecFrom(remoteDescription(action.remote!, undefined, false));
    const cli = resolveConfig({ remote: 'grpc://cache:9092', 'no-compression': true }, {});
    expect(fromAction.compression).toBe(false);
    expect(remoteSpecFrom(cli.remote!).compression).toBe(false);
    const byDefault = parse({ [Inputs.Remote]: 'grpc://cache:9092' });
    expect(remoteSpecFrom(remoteDescription(byDefault.remote!, undefined, false)).compression).toBe(true);
    expect(remoteSpecFrom(resolveConfig({ remote: 'grpc://cache:9092' }, {}).remote!).compression).toBe(true);
  });
});
