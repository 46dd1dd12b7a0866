import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { SettingsJson, StartJson } from '../../src/cli/json.js';
import { SCHEMAS } from '../../src/cli/json.js';
import { unary } from '../../src/grpc/call.js';
import { Connection } from '../../src/grpc/connection.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { cliJson, runCli, tempDir } from './run-cli.js';

/**
 * `build --flag=value` lines of a bazelrc as a map, `build:CONFIG --flag=value` lines as
 * `CONFIG:flag` (comments and blank lines skipped).
 */
function parseBazelrc(text: string): Map<string, string> {
  const flags = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = /^build(?::([a-z-]+))? --([a-z_]+)=(\S+)$/.exec(line);
    expect(match, `bazelrc line "${line}"`).not.toBeNull();
    flags.set(match![1] ? `${match![1]}:${match![2]}` : match![2]!, match![3]!);
  }
  return flags;
}

function parseEnvFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('settings files for Bazel, recc and BuildStream', () => {
  const tmp = tempDir('cli-settings-');
  const cache = ['--cache-dir', join(tmp.dir, 'cache')];
  let remote: TestCasd;
  let started: StartJson;

  beforeAll(async () => {
    remote = await startTestCasd({ tcp: true });
    started = await cliJson<StartJson>(
      [
        'start',
        '--listen',
        '127.0.0.1:0',
        '--settings-dir',
        join(tmp.dir, 'settings'),
        '--remote',
        remote.url!,
        ...cache,
      ],
      SCHEMAS.start,
    );
  });

  afterAll(async () => {
    await runCli(['stop', ...cache]);
    await runCli(['stop', '--cache-dir', join(tmp.dir, 'local')]);
    await remote?.stop();
    tmp.remove();
  });

  it('start --listen serves REAPI 2.1 or newer on the printed TCP address (what Bazel 5.0+ needs)', async () => {
    expect(started.grpcUrl).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
    const connection = new Connection(started.grpcUrl!);
    try {
      const caps = connection.capabilities;
      const answer = await unary(
        caps.getCapabilities.bind(caps),
        { instanceName: '' },
        { timeoutMs: 10_000 },
      );
      const high = answer.highApiVersion!;
      expect(high.major * 100 + high.minor).toBeGreaterThanOrEqual(201);
    } finally {
      connection.close();
    }
  });

  it('the bazelrc points --remote_cache at the Bazel bridge and casd-direct at the TCP address', () => {
    const flags = parseBazelrc(readFileSync(started.settings!.bazelrc, 'utf8'));
    expect(started.bazelUrl).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
    expect(flags.get('remote_cache')).toBe(started.bazelUrl);
    expect(flags.get('casd-direct:remote_cache')).toBe(started.grpcUrl);
    expect(flags.get('remote_upload_local_results')).toBe('true');
  });

  it('start --listen runs the Bazel bridge, which advertises REAPI 2.0 as the low end', async () => {
    const connection = new Connection(started.bazelUrl!);
    try {
      const caps = connection.capabilities;
      const answer = await unary(
        caps.getCapabilities.bind(caps),
        { instanceName: '' },
        { timeoutMs: 10_000 },
      );
      expect(answer.lowApiVersion).toMatchObject({ major: 2, minor: 0 });
    } finally {
      connection.close();
    }
  });

  it('buildstream.conf parses as YAML and points the storage service at the remote', () => {
    const conf = parseYaml(readFileSync(started.settings!.buildstreamConf, 'utf8')) as {
      cache: { 'storage-service': { url: string } };
    };
    expect(conf.cache['storage-service'].url).toBe(`http://127.0.0.1:${remote.port}`);
  });

  it('recc.env names the daemon socket for CAS and Action Cache', () => {
    const env = parseEnvFile(readFileSync(started.settings!.reccEnv, 'utf8'));
    expect(env).toMatchObject({
      RECC_SERVER: started.socket,
      RECC_CAS_SERVER: started.socket,
      RECC_ACTION_CACHE_SERVER: started.socket,
      RECC_CACHE_ONLY: '1',
    });
  });

  it('the settings command writes the same files for the running daemon', async () => {
    const dir = join(tmp.dir, 'again');
    const files = await cliJson<SettingsJson>(
      ['settings', dir, ...cache, '--remote', remote.url!],
      SCHEMAS.settings,
    );
    expect(files.bazelrc).toBe(join(dir, 'casd.bazelrc'));
    expect(readFileSync(files.bazelrc, 'utf8')).toBe(readFileSync(started.settings!.bazelrc, 'utf8'));
    expect(readFileSync(files.buildstreamConf, 'utf8')).toBe(
      readFileSync(started.settings!.buildstreamConf, 'utf8'),
    );
  });

  it('without a remote, buildstream.conf points at the daemon TCP address', async () => {
    const local = ['--cache-dir', join(tmp.dir, 'local')];
    const s = await cliJson<StartJson>(
      ['start', '--listen', '127.0.0.1:0', '--settings-dir', join(tmp.dir, 'local-settings'), ...local],
      SCHEMAS.start,
    );
    const conf = parseYaml(readFileSync(s.settings!.buildstreamConf, 'utf8')) as {
      cache: { 'storage-service': { url: string } };
    };
    expect(conf.cache['storage-service'].url).toBe(s.grpcUrl!.replace('grpc://', 'http://'));
  });

  it('the settings command fails with exit 1 when no daemon runs', async () => {
    const result = await runCli(['settings', '--cache-dir', join(tmp.dir, 'none')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no daemon is running for');
    expect(result.stderr).toContain("run 'casd-action start' first");
  });
});
