import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CasdDaemon } from '../../src/casd/index.js';
import { CasStore } from '../../src/cas/store/store.js';
import { casdBinary } from '../helpers/casd.js';
import { runAction } from '../helpers/runner.js';
import { baseInputs, expectNoPartialObjects, messages, newJob, removeJobs } from './support.js';

afterAll(removeJobs);

describe('quota exhausted during capture', () => {
  it('RESOURCE_EXHAUSTED becomes a clear warning; the cache directory stays consistent', async () => {
    const job = newJob();
    const inputs = baseInputs(job, { quota: '300k', 'quota-low': '100k', path: 'out', key: 'too-big' });
    const main = await runAction('main', { job, inputs });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    // 4 MB of distinct files: far beyond a 300 kB quota whose session blobs are protected.
    for (let i = 0; i < 40; i++) {
      mkdirSync(join(job.workspace, 'out', `d${i % 4}`), { recursive: true });
      writeFileSync(join(job.workspace, 'out', `d${i % 4}`, `f${i}`), Buffer.alloc(100_000, i + 1));
    }
    const post = await runAction('post', { after: main });
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
    const warning = messages(post, 'warning').find((m) => m.startsWith('capturing path:'));
    expect(warning, post.stdout).toMatch(
      /^capturing path: importing directory \S+ failed: RESOURCE_EXHAUSTED: /,
    );
    expect(warning).toContain('(the local cache is full: raise the quota or free space)');
    expect(post.summary).toContain('not committed');

    // A fresh casd on the directory starts, and no object is partial.
    const cacheDir = inputs['cache-dir'];
    expectNoPartialObjects(cacheDir);
    const daemon = await CasdDaemon.start({ binary: casdBinary(), cacheDir, reservedBytes: 0 });
    try {
      await new CasStore({ cacheDir, connection: daemon.connection() }).checkLayout();
    } finally {
      expect((await daemon.stop()).exitCode).toBe(0);
    }
  });
});
