// A post step killed (SIGKILL, as a cancelled or timed-out runner does) in the middle of its
// save publishes nothing half-made: the next job on a fresh runner restores the last complete
// save byte for byte, through the Actions cache and through a remote alike. Every job runs the
// dist/ steps with action.yml's defaults, as the runner does.
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startActionsCacheEmulator,
  type ActionsCacheEmulator,
  type Operation,
} from '../helpers/actions-cache/index.js';
import { casdBinary, startTestCasd, type TestCasd } from '../helpers/casd.js';
import { describeTree } from '../helpers/describe-tree.js';
import { type LimitedRemote, startLimitedRemote } from '../helpers/limited-remote.js';
import { createRunnerJob, runAction, type ActionRun, type RunnerJob } from '../helpers/runner.js';
import { alive, daemonPid } from '../e2e/jobs.js';

/** A tree with what a restore must keep: modes, symlinks, empty files and directories. */
function makeTree(tree: string): void {
  for (let i = 0; i < 80; i++) {
    mkdirSync(join(tree, `d${i % 5}`), { recursive: true });
    writeFileSync(join(tree, `d${i % 5}`, `f${i}.txt`), `saved file ${i} `.repeat(40 + i));
  }
  // Above a 2 MiB batch: streamed to a remote in a ByteStream write of its own.
  writeFileSync(join(tree, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 5, 'big '));
  writeFileSync(join(tree, 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(tree, 'run.sh'), 0o755);
  writeFileSync(join(tree, 'empty-file'), '');
  mkdirSync(join(tree, 'empty-dir'));
  symlinkSync('d0/f0.txt', join(tree, 'link'));
}

/** The second job's change: new content in many files, so that its save has much to send. */
function changeTree(tree: string): void {
  for (let i = 0; i < 80; i += 2)
    writeFileSync(join(tree, `d${i % 5}`, `f${i}.txt`), `changed ${i} `.repeat(99));
  writeFileSync(join(tree, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 9, 'new '));
}

interface Job {
  main: ActionRun;
  post: ActionRun;
  tree: string;
}

/**
 * One job on a fresh runner: main, `build` on the restored tree, post. `killPost` receives a
 * function that SIGKILLs the post step and the casd it left behind (a killed runner takes
 * both); the job's post step is expected to die of it.
 */
async function runJob(
  runners: RunnerJob[],
  inputs: (cacheDir: string) => Record<string, string>,
  env: Record<string, string>,
  build?: (tree: string) => void,
  killPost?: (kill: () => void) => void,
): Promise<Job> {
  const runner = createRunnerJob();
  runners.push(runner);
  const main = await runAction('main', { job: runner, inputs: inputs(join(runner.root, 'casd-cache')), env });
  expect(main.exitCode, main.stdout + main.stderr).toBe(0);
  const tree = join(runner.workspace, 'tree');
  build?.(tree);
  let postPid: number | undefined;
  let killed = false;
  killPost?.(() => {
    if (killed || postPid === undefined) return;
    killed = true;
    process.kill(postPid, 'SIGKILL');
    const casd = daemonPid(main);
    if (alive(casd)) process.kill(casd, 'SIGKILL');
  });
  const post = await runAction('post', { after: main, env, onSpawn: (pid) => (postPid = pid) });
  if (killPost) {
    expect(post.signal, `the post step was not killed:\n${post.stdout}${post.stderr}`).toBe('SIGKILL');
  } else {
    expect(post.exitCode, post.stdout + post.stderr).toBe(0);
  }
  return { main, post, tree };
}

describe('a post step killed while saving to the Actions cache', () => {
  let cache: ActionsCacheEmulator;
  const runners: RunnerJob[] = [];
  beforeAll(async () => {
    cache = await startActionsCacheEmulator();
  });
  afterAll(async () => {
    for (const runner of runners) runner.remove();
    await cache?.stop();
  });

  const operations: Operation[] = ['CreateCacheEntry', 'FinalizeCacheEntryUpload'];
  it.each(operations)(
    'at %s publishes nothing: a fresh runner restores the previous save byte for byte',
    async (operation) => {
      const prefix = `killed-${operation}-`;
      const inputs = (cacheDir: string): Record<string, string> => ({
        'casd-path': casdBinary(),
        'cache-dir': cacheDir,
        'save-local-cache': 'true',
        'restore-keys': prefix,
        path: 'tree',
      });
      const withKey = (key: string) => (cacheDir: string) => ({ ...inputs(cacheDir), key });

      const first = await runJob(runners, withKey(`${prefix}1`), cache.env, makeTree);
      const expected = describeTree(first.tree);
      const finalizedBefore = cache.entries().filter((e) => e.finalized).length;

      await runJob(runners, withKey(`${prefix}2`), cache.env, changeTree, (kill) =>
        cache.faults.interceptNext(1, operation, kill),
      );
      cache.faults.clear();
      // The killed save finalized no entry (at most an unfinished one is left, which no lookup sees).
      expect(cache.entries().filter((e) => e.finalized)).toHaveLength(finalizedBefore);

      const third = await runJob(runners, withKey(`${prefix}2`), cache.env);
      expect(third.main.outputs['cache-hit']).toBe('false');
      expect(third.main.outputs['cache-matched-key']).toBe(`${prefix}1`);
      expect(describeTree(third.tree)).toEqual(expected);

      // The unfinished entry blocks nothing: the next job saves the key (over the third job's
      // save of it: these jobs have no token to read their status with, so they say always).
      const fourth = await runJob(
        runners,
        (cacheDir) => ({ ...withKey(`${prefix}2`)(cacheDir), 'save-refs': 'always' }),
        cache.env,
        changeTree,
      );
      const changed = describeTree(fourth.tree);
      const fifth = await runJob(runners, withKey(`${prefix}2`), cache.env);
      expect(fifth.main.outputs['cache-hit']).toBe('true');
      expect(describeTree(fifth.tree)).toEqual(changed);
    },
  );
});

describe('a post step killed while pushing to a remote', () => {
  let backing: TestCasd;
  let server: LimitedRemote;
  let onUpload: ((uploads: number) => void) | undefined;
  const runners: RunnerJob[] = [];
  beforeAll(async () => {
    backing = await startTestCasd({ tcp: true });
    server = await startLimitedRemote(backing.socket, {
      advertisedBatchBytes: 2 << 20,
      enforcedBatchBytes: 4 << 20,
      onUpload: (uploads) => onUpload?.(uploads),
    });
  });
  afterAll(async () => {
    for (const runner of runners) runner.remove();
    await server?.stop();
    await backing?.stop();
  });

  it('publishes no ref: a fresh runner restores the previous push byte for byte', async () => {
    const inputs = (key: string) => (cacheDir: string) => ({
      'casd-path': casdBinary(),
      'cache-dir': cacheDir,
      remote: server.url,
      'remote-asset': backing.url!,
      key,
      'restore-keys': 'killed-push-',
      path: 'tree',
    });
    const first = await runJob(runners, inputs('killed-push-1'), {}, makeTree);
    const expected = describeTree(first.tree);

    const uploadsBefore = server.counters.batchUpdateCalls + server.counters.byteStreamWrites;
    await runJob(runners, inputs('killed-push-2'), {}, changeTree, (kill) => {
      // The first upload of the push arrives: the step dies with its blobs half sent.
      onUpload = (uploads) => {
        if (uploads > uploadsBefore) kill();
      };
    });
    onUpload = undefined;

    const third = await runJob(runners, inputs('killed-push-2'), {});
    expect(third.main.outputs['cache-hit']).toBe('false');
    expect(third.main.outputs['cache-matched-key']).toBe('killed-push-1');
    expect(describeTree(third.tree)).toEqual(expected);
  });
});
