import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { bazelrc, buildstreamConf, reccEnv, writeToolSettings } from '../../src/settings/tool-settings.js';

const local = { socket: 'unix:/tmp/casd-x/casd.sock', grpcUrl: 'grpc://127.0.0.1:40123' };

describe('tool settings', () => {
  it('points Bazel at the loopback TCP address when the daemon listens on one', () => {
    const lines = bazelrc(local).split('\n');
    expect(lines).toContain('build --remote_cache=grpc://127.0.0.1:40123');
    expect(lines.filter((l) => l.startsWith('build ')).every((l) => /^build --[a-z_]+=\S+$/.test(l))).toBe(
      true,
    );
  });

  it('falls back to the unix socket for Bazel without a TCP address', () => {
    expect(bazelrc({ socket: local.socket })).toContain('build --remote_cache=unix:/tmp/casd-x/casd.sock');
  });

  it('gives recc the socket for CAS and action cache, in cache-only mode', () => {
    const env = Object.fromEntries(
      reccEnv(local)
        .trim()
        .split('\n')
        .map((l) => l.split('=', 2) as [string, string]),
    );
    expect(env).toMatchObject({
      RECC_SERVER: local.socket,
      RECC_CAS_SERVER: local.socket,
      RECC_CACHE_ONLY: '1',
      RECC_CACHE_UPLOAD_LOCAL_BUILD: '1',
    });
  });

  it('points BuildStream at the remote, with its credentials, as parseable YAML', () => {
    const conf = parse(
      buildstreamConf({
        ...local,
        remote: {
          url: 'https://cache.example:11002',
          instanceName: 'main',
          serverCertPath: '/tmp/ca.pem',
          tokenPath: '/tmp/token',
        },
      }),
    );
    expect(conf.cache['storage-service']).toEqual({
      url: 'https://cache.example:11002',
      'instance-name': 'main',
      auth: { 'server-cert': '/tmp/ca.pem', 'access-token': '/tmp/token' },
    });
  });

  it('points BuildStream at the daemon over HTTP/2 TCP when there is no remote', () => {
    expect(parse(buildstreamConf(local)).cache['storage-service'].url).toBe('http://127.0.0.1:40123');
  });

  it('writes the three files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'settings-'));
    const files = await writeToolSettings(dir, local);
    expect(readFileSync(files.bazelrc, 'utf8')).toBe(bazelrc(local));
    expect(readFileSync(files.reccEnv, 'utf8')).toBe(reccEnv(local));
    expect(parse(readFileSync(files.buildstreamConf, 'utf8')).cache).toBeDefined();
  });
});
