import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '../../src/grpc/call.js';
import { Connection } from '../../src/grpc/connection.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { startLimitedRemote, type LimitedRemote } from '../helpers/limited-remote.js';
import { runAction, type ActionRun } from '../helpers/runner.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls.js';
import { writeWorkspaceTree } from '../e2e/helpers.js';
import { baseInputs, newJob, removeJobs } from './support.js';

const TOKEN = 'casd-test-token-7f3a9c1e5b2d4f60';

/** Every file below `dir`, recursively (paths). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Where the secret shows in a step's output, apart from the ::add-mask:: commands that hide it. */
function leaks(run: ActionRun, secret: string): string[] {
  const found: string[] = [];
  const check = (where: string, text: string): void => {
    for (const line of text.split('\n')) {
      if (line.includes(secret) && !line.startsWith('::add-mask::')) found.push(`${where}: ${line}`);
    }
  };
  check(`${run.entry} stdout`, run.stdout);
  check(`${run.entry} stderr`, run.stderr);
  check(`${run.entry} summary`, run.summary);
  for (const [name, path] of Object.entries(run.files))
    check(`${run.entry} ${name} file`, readFileSync(path, 'utf8'));
  check(`${run.entry} state`, JSON.stringify(run.state));
  check(`${run.entry} exported env`, JSON.stringify(run.exportedEnv));
  check(`${run.entry} outputs`, JSON.stringify(run.outputs));
  return found;
}

describe('secrets given as inputs', () => {
  let backend: TestCasd;
  let remote: LimitedRemote;
  let certs: TestCertificates;

  beforeAll(async () => {
    certs = makeTestCertificates();
    backend = await startTestCasd();
    remote = await startLimitedRemote(backend.socket, {
      tls: { cert: certs.serverCert, key: certs.serverKey },
      token: TOKEN,
    });
  });
  afterAll(async () => {
    removeJobs();
    await Promise.all([remote?.stop(), backend?.stop()]);
    certs?.remove();
  });

  it('never appear in output, summary, state, env or the daemon log, with debug logging on', async () => {
    const job = newJob();
    const keyBody = certs.clientKey.toString().split('\n')[1];
    const inputs = baseInputs(job, {
      remote: remote.url,
      'server-cert': certs.caCert.toString(),
      'client-cert': certs.clientCert.toString(),
      'client-key': certs.clientKey.toString(),
      token: TOKEN,
      path: 'out',
      key: 'secret-job',
      'log-level': 'trace',
    });
    const main = await runAction('main', { job, inputs, debug: true });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    // The remote was used with the token (no fallback to local-only) ...
    expect(main.commands.filter((c) => c.command === 'warning')).toEqual([]);
    expect(remote.counters.capabilities).toBeGreaterThan(0);
    expect(remote.counters.unauthenticated).toBe(0);
    // ... and masked before anything else was printed.
    const firstLine = main.stdout.split('\n')[0];
    expect(firstLine.startsWith('::add-mask::'), firstLine).toBe(true);
    expect(main.stdout).toContain(`::add-mask::${TOKEN}`);

    // Credential files: 0600 in a 0700 directory under RUNNER_TEMP while the job runs.
    const secretDirs = readdirSync(job.runnerTemp).filter((name) => name.startsWith('casd-secrets-'));
    expect(secretDirs).toHaveLength(1);
    const secretDir = join(job.runnerTemp, secretDirs[0]);
    expect(statSync(secretDir).mode & 0o777).toBe(0o700);
    const secretFiles = filesUnder(secretDir);
    expect(secretFiles.map((f) => f.slice(secretDir.length + 1)).sort()).toEqual([
      'client-cert.pem',
      'client-key.pem',
      'server-ca.pem',
      'token',
    ]);
    for (const file of secretFiles) expect(statSync(file).mode & 0o777, file).toBe(0o600);

    // A job step that uses the daemon (which talks to the remote with the token).
    const connection = new Connection(main.exportedEnv.CASD_SOCKET);
    await unary(connection.capabilities.getCapabilities.bind(connection.capabilities), { instanceName: '' });
    connection.close();
    writeWorkspaceTree(join(job.workspace, 'out'), 10, 'secret');

    const post = await runAction('post', { after: main, debug: true });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    expect(remote.counters.bytesReceived).toBeGreaterThan(0);
    expect(remote.counters.unauthenticated).toBe(0);

    for (const secret of [TOKEN, keyBody]) {
      expect(leaks(main, secret)).toEqual([]);
      expect(leaks(post, secret)).toEqual([]);
      for (const file of filesUnder(join(inputs['cache-dir'], 'cas', 'logs'))) {
        expect(readFileSync(file, 'utf8').includes(secret), `${file} holds a secret`).toBe(false);
      }
      // Settings files for other tools name the token file, never the token.
      for (const output of ['bazelrc', 'recc-env', 'buildstream-conf']) {
        const path = main.outputs[output];
        expect(readFileSync(path, 'utf8').includes(secret), `${output} holds a secret`).toBe(false);
      }
    }
    // After post: no credential file is left in RUNNER_TEMP.
    expect(existsSync(secretDir)).toBe(false);
    const leftovers = filesUnder(job.runnerTemp).filter((file) => {
      const text = readFileSync(file, 'utf8');
      return text.includes(TOKEN) || text.includes(keyBody);
    });
    expect(leftovers).toEqual([]);
  });
});
