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
          push: true,
        },
      }),
    );
    const server = {
      url: 'https://cache.example:11002',
      'instance-name': 'main',
      auth: { 'server-cert': '/tmp/ca.pem', 'access-token': '/tmp/token' },
    };
    expect(conf.cache['storage-service']).toEqual(server);
    expect(conf.artifacts.servers).toEqual([{ ...server, push: true }]);
    expect(conf['source-caches'].servers).toEqual([{ ...server, push: true }]);
  });

  it('gives BuildStream artifact and source caches that do not push when pushing is off', () => {
    const conf = parse(buildstreamConf({ ...local, remote: { url: 'http://cache:1', push: false } }));
    expect(conf.artifacts.servers).toEqual([{ url: 'http://cache:1', push: false }]);
    expect(conf['source-caches'].servers).toEqual([{ url: 'http://cache:1', push: false }]);
  });

  it('points BuildStream at the daemon over HTTP/2 TCP when there is no remote', () => {
    const conf = parse(buildstreamConf(local));
    expect(conf.cache['storage-service'].url).toBe('http://127.0.0.1:40123');
    expect(conf.artifacts.servers).toEqual([{ url: 'http://127.0.0.1:40123', push: true }]);
    expect(conf['source-caches'].servers).toEqual([{ url: 'http://127.0.0.1:40123', push: true }]);
  });

  it('gives BuildStream no artifact cache when the daemon has only a unix socket', () => {
    const conf = parse(buildstreamConf({ socket: local.socket }));
    expect(conf.cache['storage-service'].url).toBe(local.socket);
    expect(conf.artifacts).toBeUndefined();
  });

  it('points Bazel at the bridge, names the Bazel versions and offers casd-direct for Bazel 8+', () => {
    const text = bazelrc({ ...local, bazelUrl: 'grpc://127.0.0.1:40125' });
    const lines = text.split('\n');
    expect(lines).toContain('build --remote_cache=grpc://127.0.0.1:40125');
    expect(lines).toContain('build:casd-direct --remote_cache=grpc://127.0.0.1:40123');
    expect(text).toMatch(/Bazel 5 and newer/);
    expect(text).toMatch(/Bazel 8 and newer/);
  });

  it('says a bazelrc without the bridge serves Bazel 8 and newer only', () => {
    expect(bazelrc({ socket: local.socket })).toMatch(/For Bazel 8 and newer/);
  });

  it('never enables remote cache compression (casd advertises no compressors)', () => {
    for (const text of [bazelrc(local), bazelrc({ ...local, bazelUrl: 'grpc://127.0.0.1:1' })]) {
      expect(
        text
          .split('\n')
          .filter((l) => !l.startsWith('#'))
          .join('\n'),
      ).not.toMatch(/compression/);
    }
  });

  it('writes the three files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'settings-'));
    const files = await writeToolSettings(dir, local);
    expect(readFileSync(files.bazelrc, 'utf8')).toBe(bazelrc(local));
    expect(readFileSync(files.reccEnv, 'utf8')).toBe(reccEnv(local));
    expect(parse(readFileSync(files.buildstreamConf, 'utf8')).cache).toBeDefined();
  });
});
