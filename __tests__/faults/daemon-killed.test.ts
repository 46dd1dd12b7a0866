import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CasdDaemon } from '../../src/casd/index.js';
import { CasStore } from '../../src/cas/store/store.js';
import { isCasError } from '../../src/errors.js';
import { casdBinary } from '../helpers/casd.js';
import { runAction } from '../helpers/runner.js';
import { writeWorkspaceTree } from '../e2e/helpers.js';
import {
  baseInputs,
  casdPidUnder,
  expectNoPartialObjects,
  messages,
  newJob,
  processGone,
  removeJobs,
  savedDaemon,
} from './support.js';

afterAll(removeJobs);

describe('buildbox-casd killed with SIGKILL', () => {
  it('during a job step: post reports the signal and the log, saves the cache dir, job stays green', async () => {
    const job = newJob();
    const inputs = baseInputs(job, { path: 'out', key: 'killed-step' });
    const main = await runAction('main', { job, inputs });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    writeWorkspaceTree(join(job.workspace, 'out'), 20, 'killed');

    const daemon = savedDaemon(main);
    const casd = casdPidUnder(daemon.pid);
    process.kill(casd, 'SIGKILL');
    for (let i = 0; i < 500 && !processGone(daemon.pid); i++) await new Promise((r) => setTimeout(r, 10));

    const post = await runAction('post', { after: main });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    expect(messages(post, 'warning')).toContain(
      `buildbox-casd died during the run (signal SIGKILL); log: ${daemon.logPath}`,
    );
    expect(post.summary).toContain(
      `buildbox-casd was killed by SIGKILL during the job; log: ${daemon.logPath}`,
    );
    // The log tail is attached in a collapsed group.
    expect(post.stdout).toContain('::group::buildbox-casd log (last lines)');
    // Capturing needs the daemon: a warning, not a failure.
    expect(
      messages(post, 'warning').some((m) => m.startsWith('saving:') || m.startsWith('capturing path:')),
    ).toBe(true);
    expectNoPartialObjects(inputs['cache-dir']);
  });

  it('during a job step, with save-local-cache: the consistent cache dir is still persisted', async () => {
    const { startActionsCacheEmulator } = await import('../helpers/actions-cache/index.js');
    const cache = await startActionsCacheEmulator();
    try {
      const job = newJob();
      const inputs = baseInputs(job, { 'save-local-cache': 'true' });
      const main = await runAction('main', { job, inputs, env: cache.env });
      expect(main.exitCode, main.stdout + main.stderr).toBe(0);
      // Something in the cache to persist: a blob the job stored through the daemon.
      const daemon = savedDaemon(main);
      const attached = CasdDaemon.attach({ ...daemon, cacheDir: inputs['cache-dir'] });
      const store = new CasStore({ cacheDir: inputs['cache-dir'], connection: attached.connection() });
      await store.addObject({ buffer: Buffer.from('kept across the crash') });
      attached.connection().close();
      process.kill(casdPidUnder(daemon.pid), 'SIGKILL');
      for (let i = 0; i < 500 && !processGone(daemon.pid); i++) await new Promise((r) => setTimeout(r, 10));
      const post = await runAction('post', { after: main, env: cache.env });
      expect(post.exitCode, post.stdout + post.stderr).toBe(0);
      expect(post.summary).toContain('was killed by SIGKILL during the job');
      expect(cache.stats.entriesCreated).toBeGreaterThanOrEqual(1);
    } finally {
      await cache.stop();
    }
  });

  it('during a capture: the capture fails clearly, stop() reports SIGKILL, no partial object remains', async () => {
    const job = newJob();
    const cacheDir = join(job.root, 'cache');
    const tree = join(job.root, 'tree');
    for (let i = 0; i < 200; i++) {
      mkdirSync(join(tree, `d${i % 10}`), { recursive: true });
      writeFileSync(join(tree, `d${i % 10}`, `f${i}`), Buffer.alloc(256 * 1024, i));
    }
    const daemon = await CasdDaemon.start({
      binary: casdBinary(),
      cacheDir,
      detach: true,
      reservedBytes: 0,
    });
    const store = new CasStore({ cacheDir, connection: daemon.connection() });
    const capture = store.importDirectory(tree).then(
      () => undefined,
      (err: unknown) => err,
    );
    setTimeout(() => process.kill(casdPidUnder(daemon.pid), 'SIGKILL'), 20);
    const error = await capture;
    for (let i = 0; i < 500 && !processGone(daemon.pid); i++) await new Promise((r) => setTimeout(r, 10));
    const result = await CasdDaemon.attach(daemon.toState()).stop();
    expect(result).toMatchObject({ signal: 'SIGKILL', exitCode: null, diedEarly: true });
    // Killed before or after casd answered: either the capture failed with a clear error, or
    // it completed; the store is consistent in both cases.
    if (error !== undefined) {
      expect(isCasError(error), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/capturing|CaptureTree|buildbox-casd|unavailable/i);
    }
    expectNoPartialObjects(cacheDir);
    // A fresh casd on the same directory starts and serves it.
    const again = await CasdDaemon.start({ binary: casdBinary(), cacheDir, reservedBytes: 0 });
    await new CasStore({ cacheDir, connection: again.connection() }).checkLayout();
    expect((await again.stop()).exitCode).toBe(0);
  });
});
