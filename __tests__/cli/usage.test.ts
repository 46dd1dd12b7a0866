import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { expectUsageError, runCli } from './run-cli.js';

describe('casd-action usage', () => {
  it('prints the command list with --help and exits 0', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const command of COMMANDS) expect(result.stdout).toContain(command.name);
    expect(result.stdout).toContain('CASD_ACTION_REMOTE');
  });

  it.each(COMMANDS.map((c) => c.name))('prints help for %s with --help and exits 0', async (name) => {
    const result = await runCli([name, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^usage: casd-action ${name}`));
    expect(result.stdout).toContain('global options');
  });

  it("prints a command's help with `help COMMAND`", async () => {
    const result = await runCli(['help', 'push']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^usage: casd-action push REF\.\.\. --remote URL/);
  });

  it('prints its version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^casd-action \d+\.\d+\.\d+\n$/);
  });

  it('exits 1 when a token would be sent to a plaintext remote', async () => {
    const result = await runCli([
      'start',
      '--cache-dir',
      '/tmp/never-started',
      '--remote',
      'grpc://127.0.0.1:1',
      '--token-file',
      '/etc/hostname',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('a token can only be sent over TLS; use grpcs://');
  });

  it('exits 1 naming a certificate file that does not exist', async () => {
    const result = await runCli([
      'start',
      '--cache-dir',
      '/tmp/never-started',
      '--remote',
      'grpcs://127.0.0.1:1',
      '--server-cert',
      '/nonexistent/ca.pem',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--server-cert file /nonexistent/ca.pem does not exist');
  });

  it('exits 2 with one line when no command is given', async () => {
    expectUsageError(await runCli([]), 'no command given');
  });

  it('exits 2 naming an unknown command', async () => {
    expectUsageError(await runCli(['frobnicate']), 'unknown command "frobnicate"');
  });

  it('exits 2 naming an unknown option', async () => {
    expectUsageError(await runCli(['refs', '--frob']), "Unknown option '--frob'");
  });

  it('exits 2 when an option lacks its value', async () => {
    expectUsageError(await runCli(['capture', 'x', '--ref']), "--ref <value>' argument missing");
  });

  it('exits 2 when positionals are missing', async () => {
    expectUsageError(
      await runCli(['checkout', 'only-one']),
      'missing arguments; usage: casd-action checkout',
    );
  });

  it('exits 2 on an extra positional', async () => {
    expectUsageError(await runCli(['diff', 'a', 'b', 'c']), 'unexpected argument "c"');
  });

  it('exits 2 naming a malformed quota flag', async () => {
    expectUsageError(await runCli(['status', '--quota', 'lots']), '--quota: "lots" is not a size');
  });

  it('exits 2 naming a malformed environment variable', async () => {
    expectUsageError(
      await runCli(['status'], { CASD_ACTION_QUOTA: 'lots' }),
      'CASD_ACTION_QUOTA: "lots" is not a size',
    );
  });

  it('exits 2 on a remote URL without a port', async () => {
    expectUsageError(await runCli(['push', 'r', '--remote', 'grpc://example.com']), 'needs a port');
  });

  it('exits 2 on an unknown log level', async () => {
    expectUsageError(
      await runCli(['status', '--log-level', 'loud']),
      '--log-level: "loud" is not one of error, warning',
    );
  });

  it('exits 2 on a bad listen address', async () => {
    expectUsageError(
      await runCli(['start', '--listen', 'localhost']),
      'listen address "localhost" is not host:port',
    );
  });

  it('exits 2 on a non-boolean environment flag', async () => {
    expectUsageError(
      await runCli(['refs'], { CASD_ACTION_READ_ONLY: 'perhaps', CASD_ACTION_REMOTE: 'grpc://h:1' }),
      'CASD_ACTION_READ_ONLY="perhaps" is not a boolean',
    );
  });

  it('exits 2 on quota-low without a quota', async () => {
    expectUsageError(await runCli(['status', '--quota-low', '1G']), '--quota-low was given without a quota');
  });

  it('exits 2 on a client certificate without its key', async () => {
    expectUsageError(
      await runCli(['status', '--remote', 'grpcs://h:1', '--client-cert', '/c.pem']),
      '--client-cert and --client-key go together',
    );
  });

  it('exits 2 when push has no remote', async () => {
    expectUsageError(
      await runCli(['push', 'r']),
      'push needs a remote: give --remote URL or set CASD_ACTION_REMOTE',
    );
  });

  it('exits 2 when pull has no remote', async () => {
    expectUsageError(await runCli(['pull', 'r']), 'pull needs a remote');
  });

  it('exits 2 when push is asked to write to a read-only remote', async () => {
    expectUsageError(
      await runCli(['push', 'r', '--remote', 'grpc://h:1', '--read-only']),
      'drop --read-only',
    );
  });

  it('exits 2 when gc has no target size', async () => {
    expectUsageError(await runCli(['gc']), 'gc needs --to SIZE');
  });

  it('exits 2 on a malformed gc target size', async () => {
    expectUsageError(await runCli(['prune', '--to', 'half']), '--to: "half" is not a size');
  });

  it('exits 2 on an unsafe ref name', async () => {
    expectUsageError(
      await runCli(['capture', '.', '--ref', '../escape']),
      'ref name "../escape" has a ".." path component',
    );
  });

  it('exits 2 when two captured paths share a basename', async () => {
    expectUsageError(
      await runCli(['capture', '/tmp/a/x', '/tmp/b/x', '--cache-dir', '/nonexistent']),
      '"/tmp/a/x" and "/tmp/b/x" would both be "x"',
    );
  });

  it('exits 1 with a clear message when buildbox-casd cannot be found', async () => {
    const result = await runCli(['start', '--cache-dir', '/tmp/never'], {
      BUILDBOX_CASD: '',
      PATH: '/nonexistent',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot find buildbox-casd: give --casd PATH, set BUILDBOX_CASD');
  });
});
