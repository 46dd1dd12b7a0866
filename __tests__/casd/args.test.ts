import { describe, expect, it } from 'vitest';
import { buildCasdArgs, type DaemonOptions, proxyFlags } from '../../src/casd/index.js';
import { parseEndpoint } from '../../src/grpc/endpoint.js';
import { CasError } from '../../src/errors.js';

const base: DaemonOptions = { binary: '/bin/casd', cacheDir: '/c', socketPath: '/s/casd.sock' };

function args(extra: Partial<DaemonOptions>): string[] {
  return buildCasdArgs({ ...base, ...extra });
}

function errorOf(fn: () => unknown): CasError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CasError);
    return err as CasError;
  }
  throw new Error('expected a CasError');
}

describe('buildCasdArgs', () => {
  it('binds the unix socket first and ends with the cache directory', () => {
    expect(args({})).toEqual(['--bind=unix:/s/casd.sock', '/c']);
  });

  it('adds extra binds and the log level', () => {
    expect(args({ binds: ['127.0.0.1:8980'], logLevel: 'debug' })).toEqual([
      '--bind=unix:/s/casd.sock',
      '--bind=127.0.0.1:8980',
      '--log-level=debug',
      '/c',
    ]);
  });

  it('defaults quota-low to half of quota-high', () => {
    expect(args({ quotaHighBytes: 5_000_000_001 })).toEqual([
      '--bind=unix:/s/casd.sock',
      '--quota-high=5000000001',
      '--quota-low=2500000000',
      '/c',
    ]);
  });

  it('passes quota-low as bytes or as a percentage', () => {
    expect(args({ quotaHighBytes: 1000, quotaLow: { bytes: 100 } })).toContain('--quota-low=100');
    expect(args({ quotaHighBytes: 1000, quotaLow: { percent: 80 } })).toContain('--quota-low=80%');
  });

  it('protects session blobs only when a quota is set', () => {
    expect(args({ protectSessionBlobs: true })).not.toContain('--protect-session-blobs');
    expect(args({ quotaHighBytes: 1000, protectSessionBlobs: true })).toContain('--protect-session-blobs');
    expect(args({ quotaHighBytes: 1000, protectSessionBlobs: false })).not.toContain(
      '--protect-session-blobs',
    );
  });

  it('passes reserved space, including 0', () => {
    expect(args({ reservedBytes: 0 })).toContain('--reserved=0');
    expect(args({ reservedBytes: 2e9 })).toContain('--reserved=2000000000');
  });

  it('emits every flag of each remote service with its prefix', () => {
    const full = {
      url: 'https://cache.example:443',
      instance: 'main',
      serverCertPath: '/certs/ca.pem',
      clientKeyPath: '/certs/key.pem',
      clientCertPath: '/certs/cert.pem',
      accessTokenPath: '/run/token',
      tokenReloadMinutes: 5,
      keepaliveSeconds: 30,
      retryLimit: 4,
      retryDelayMs: 250,
      requestTimeoutSeconds: 60,
    };
    for (const prefix of ['cas', 'ra', 'ac'] as const) {
      const result = args({ remote: { [prefix]: full } });
      expect(result.slice(1, -1)).toEqual([
        `--${prefix}-remote=https://cache.example:443`,
        `--${prefix}-instance=main`,
        `--${prefix}-server-cert=/certs/ca.pem`,
        `--${prefix}-client-key=/certs/key.pem`,
        `--${prefix}-client-cert=/certs/cert.pem`,
        `--${prefix}-access-token=/run/token`,
        `--${prefix}-token-reload-interval=5`,
        `--${prefix}-keepalive-time=30`,
        `--${prefix}-retry-limit=4`,
        `--${prefix}-retry-delay=250`,
        `--${prefix}-request-timeout=60`,
      ]);
    }
  });

  it('emits only the remote URL when nothing else is set, and no empty instance', () => {
    expect(args({ remote: { cas: { url: 'unix:/run/remote.sock', instance: '' } } })).toEqual([
      '--bind=unix:/s/casd.sock',
      '--cas-remote=unix:/run/remote.sock',
      '/c',
    ]);
  });

  it('combines cas, ra and ac remotes with read-only, then extra args before the cache dir', () => {
    const result = args({
      remote: {
        cas: { url: 'http://a:1' },
        ra: { url: 'http://b:2' },
        ac: { url: 'http://c:3' },
        readOnly: true,
      },
      extraArgs: ['--findmissingblobs-cache-ttl=60'],
    });
    expect(result).toEqual([
      '--bind=unix:/s/casd.sock',
      '--cas-remote=http://a:1',
      '--ra-remote=http://b:2',
      '--ac-remote=http://c:3',
      '--read-only-remote',
      '--findmissingblobs-cache-ttl=60',
      '/c',
    ]);
  });

  it('rejects quota-low above quota-high, naming both', () => {
    const err = errorOf(() => args({ quotaHighBytes: 1000, quotaLow: { bytes: 2000 } }));
    expect(err.reason).toBe('invalid-input');
    expect(err.message).toBe('quota-low (2000 bytes) must not be above quota-high (1000 bytes)');
  });

  it('rejects quota-low without quota-high', () => {
    const err = errorOf(() => args({ quotaLow: { percent: 50 } }));
    expect(err.message).toBe('quota-low was given without quota-high; set a quota first');
  });

  it('rejects a zero quota-high and a percentage out of range', () => {
    expect(errorOf(() => args({ quotaHighBytes: 0 })).message).toBe(
      'quota-high must be above 0 bytes, got 0',
    );
    expect(errorOf(() => args({ quotaHighBytes: 10, quotaLow: { percent: 150 } })).message).toBe(
      'quota-low must be a percentage above 0% and at most 100%, got 150%',
    );
  });

  it('rejects a remote URL casd does not accept', () => {
    const err = errorOf(() => args({ remote: { ra: { url: 'grpc://host:1' } } }));
    expect(err.reason).toBe('invalid-input');
    expect(err.message).toContain('ra-remote "grpc://host:1" is not a URL casd accepts');
  });

  it('rejects negative or fractional counts, naming the flag', () => {
    expect(errorOf(() => args({ reservedBytes: -1 })).message).toBe(
      'reserved (bytes) must be a whole number of at least 0, got -1',
    );
    expect(errorOf(() => args({ remote: { cas: { url: 'http://a:1', retryLimit: 1.5 } } })).message).toBe(
      'cas-retry-limit must be a whole number of at least 0, got 1.5',
    );
  });

  it('rejects an empty cache directory and an unknown log level', () => {
    expect(errorOf(() => args({ cacheDir: '' })).message).toBe(
      'the cache directory is empty; give a path for the local CAS',
    );
    expect(errorOf(() => args({ logLevel: 'loud' as unknown as DaemonOptions['logLevel'] })).message).toBe(
      'log level "loud" is not one of error, warning, info, debug, trace',
    );
  });
});

describe('proxyFlags', () => {
  it('proxies all three services to one remote unless Remote Asset or Action Cache live elsewhere', () => {
    const flags = proxyFlags(
      { cas: parseEndpoint('grpcs://cas.example'), ac: parseEndpoint('grpc://ac.example:9092') },
      { instance: 'main', tokenPath: '/run/token' },
      true,
    );
    expect(flags.cas).toMatchObject({
      url: 'https://cas.example:443',
      instance: 'main',
      accessTokenPath: '/run/token',
    });
    expect(flags.ra?.url).toBe('https://cas.example:443');
    expect(flags.ac?.url).toBe('http://ac.example:9092');
    expect(flags.cas?.retryLimit).toBeGreaterThan(0);
    expect(flags.readOnly).toBe(true);
  });
});
