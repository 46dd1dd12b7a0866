import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { runAction } from '../helpers/runner.js';
import {
  startSilentServer,
  startStallableProxy,
  type StallableProxy,
  type TcpFault,
} from '../helpers/stall-server.js';
import { writeWorkspaceTree } from '../e2e/helpers.js';
import { baseInputs, messages, newJob, removeJobs } from './support.js';

/** The deadline given to post (save-timeout) and what post may take beyond it. */
const SAVE_TIMEOUT_S = 3;
const MARGIN_MS = 15_000;

describe('a remote that stalls', () => {
  let remote: TestCasd;
  let silent: TcpFault;
  let proxy: StallableProxy;

  beforeAll(async () => {
    [remote, silent] = await Promise.all([startTestCasd({ tcp: true }), startSilentServer()]);
    proxy = await startStallableProxy(remote.port!);
  });
  afterAll(async () => {
    removeJobs();
    await Promise.all([remote?.stop(), silent?.stop(), proxy?.stop()]);
  });

  it('that never answers at all: main falls back to the local cache with a warning, job green', async () => {
    const job = newJob();
    const main = await runAction('main', {
      job,
      inputs: baseInputs(job, { remote: silent.url, path: 'out', key: 'silent' }),
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    expect(silent.connections()).toBeGreaterThan(0);
    const warning = messages(main, 'warning').find((m) => m.includes(silent.url));
    expect(warning).toMatch(
      /^remote grpc:\/\/127\.0\.0\.1:\d+ is unavailable \(.*\); using the local cache only$/,
    );
    writeWorkspaceTree(join(job.workspace, 'out'), 5, 'silent');
    const post = await runAction('post', { after: main });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    expect(post.stdout).toContain('The remote was unavailable at start: nothing pushed');
    expect(post.summary).toContain('is unavailable');
  });

  it('in the middle of the job: post gives up at save-timeout with a warning, job green', async () => {
    const job = newJob();
    const inputs = baseInputs(job, {
      remote: proxy.url,
      path: 'out',
      key: 'stalled',
      'save-timeout': `${SAVE_TIMEOUT_S}s`,
    });
    const main = await runAction('main', { job, inputs });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    expect(messages(main, 'warning')).toEqual([]);
    writeWorkspaceTree(join(job.workspace, 'out'), 20, 'stalled');
    proxy.stall();
    try {
      const started = Date.now();
      const post = await runAction('post', { after: main, killAfterMs: 120_000 });
      const elapsed = Date.now() - started;
      expect(post.exitCode, post.stdout + post.stderr).toBe(0);
      // The stall shows at whichever call comes first (registering or pushing).
      expect(messages(post, 'warning').join('\n')).toMatch(
        new RegExp(`did not finish within ${SAVE_TIMEOUT_S} s; going on without it`),
      );
      expect(post.summary).toContain('did not finish within');
      // Saved locally (the next job on this runner finds it), not published on the remote.
      expect(post.summary).toContain('saved stalled locally');
      expect(post.summary).not.toContain('on the remote</p>');
      // A bound, not a timing measurement: the deadline plus a generous margin.
      expect(elapsed).toBeLessThan(SAVE_TIMEOUT_S * 1000 + MARGIN_MS);
    } finally {
      proxy.resume();
    }
  });
});
