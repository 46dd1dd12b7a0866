// The `path` input as actions/cache resolves it, through the bundled action: `~` is the home
// directory, relative patterns are under GITHUB_WORKSPACE, globs and `!` exclusions are
// resolved with @actions/glob, and each matched path goes back under the workspace or home of
// the runner that restores it. Every job runs on a fresh runner (its own workspace, HOME and
// cache directory) against one remote, as jobs of a workflow do.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startActionsCacheEmulator, type ActionsCacheEmulator } from '../helpers/actions-cache/index.js';
import { casdBinary, startTestCasd, type TestCasd } from '../helpers/casd.js';
import { createRunnerJob, runAction, type ActionRun, type RunnerJob } from '../helpers/runner.js';

// With a remote, and with the Actions cache alone (the local CAS persisted between runners).
describe.each(['a remote', 'the Actions cache'] as const)(
  'path patterns as actions/cache resolves them, with %s',
  (backend) => {
    let remote: TestCasd;
    let cache: ActionsCacheEmulator;
    const runners: RunnerJob[] = [];

    beforeAll(async () => {
      [remote, cache] = await Promise.all([startTestCasd({ tcp: true }), startActionsCacheEmulator()]);
    });
    afterAll(async () => {
      for (const runner of runners) runner.remove();
      await Promise.all([remote?.stop(), cache?.stop()]);
    });
    const backendInputs =
      backend === 'a remote'
        ? (): Record<string, string> => ({ remote: remote.url!, 'save-local-cache': 'false' })
        : (): Record<string, string> => ({ remote: '', 'save-local-cache': 'true' });

    /** A fresh runner with its own home directory (HOME), as another machine has. */
    function newRunner(): { runner: RunnerJob; home: string } {
      const runner = createRunnerJob();
      runners.push(runner);
      const home = join(runner.root, 'home', 'runner');
      mkdirSync(home, { recursive: true });
      return { runner, home };
    }

    function write(path: string, text = path): void {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
    }

    const PATTERNS = ['~/.npm', 'build/**/*.o', 'deps/*', '!deps/unwanted', 'vendor', 'generated'].join('\n');

    /** main, the build step, post, on a fresh runner; returns both steps and where things live. */
    async function job(
      inputs: Record<string, string>,
      build?: (workspace: string, home: string) => void,
    ): Promise<{ main: ActionRun; post: ActionRun; workspace: string; home: string }> {
      const { runner, home } = newRunner();
      const main = await runAction('main', {
        job: runner,
        inputs: {
          'casd-path': casdBinary(),
          'cache-dir': join(runner.root, 'casd-cache'),
          ...backendInputs(),
          'save-refs': 'always',
          path: PATTERNS,
          ...inputs,
        },
        env: { ...cache.env, HOME: home },
      });
      expect(main.exitCode, main.stdout + main.stderr).toBe(0);
      build?.(runner.workspace, home);
      const post = await runAction('post', { after: main, env: { ...cache.env, HOME: home } });
      expect(post.exitCode, post.stdout + post.stderr).toBe(0);
      return { main, post, workspace: runner.workspace, home };
    }

    let saved: Awaited<ReturnType<typeof job>>;

    it('saves what the patterns match: ~ in HOME, globbed files, a directory, without exclusions', async () => {
      saved = await job({ key: 'patterns-v1' }, (ws, home) => {
        write(join(home, '.npm', '_cacache', 'index'), 'npm index');
        write(join(ws, 'build', 'a', 'x.o'));
        write(join(ws, 'build', 'b', 'c', 'y.o'));
        write(join(ws, 'build', 'b', 'z.c'));
        write(join(ws, 'deps', 'wanted', 'lib.a'));
        write(join(ws, 'deps', 'unwanted', 'huge.bin'));
        write(join(ws, 'vendor', 'pkg', 'mod.go'));
      });
      expect(saved.post.summary).toContain('✅ committed');
    });

    it('warns about a pattern that matches nothing, in the log and in the summary', () => {
      const warnings = saved.post.commands.filter((c) => c.command === 'warning').map((c) => c.message);
      expect(warnings).toEqual([
        `path pattern generated matches nothing (workspace ${saved.workspace}); nothing of it is saved`,
      ]);
      expect(saved.post.summary).toContain(
        '<b>Path:</b> matched nothing, so not saved: <code>generated</code>',
      );
    });

    it('restores on a runner whose workspace and HOME differ: each path under the new ones', async () => {
      const { main, workspace, home } = await job({ key: 'patterns-v1' });
      expect(workspace).not.toBe(saved.workspace);
      expect(home).not.toBe(saved.home);
      expect(main.outputs['cache-hit']).toBe('true');
      expect(main.outputs['matched-key']).toBe('patterns-v1');
      expect(readFileSync(join(home, '.npm', '_cacache', 'index'), 'utf8')).toBe('npm index');
      expect(existsSync(join(workspace, 'build', 'a', 'x.o'))).toBe(true);
      expect(existsSync(join(workspace, 'build', 'b', 'c', 'y.o'))).toBe(true);
      expect(existsSync(join(workspace, 'build', 'b', 'z.c'))).toBe(false);
      expect(existsSync(join(workspace, 'deps', 'wanted', 'lib.a'))).toBe(true);
      expect(existsSync(join(workspace, 'deps', 'unwanted'))).toBe(false);
      expect(existsSync(join(workspace, 'vendor', 'pkg', 'mod.go'))).toBe(true);
      // Nothing landed where the saving runner had it, nor in a literal `~` directory.
      expect(existsSync(join(workspace, '~'))).toBe(false);
    });

    it('misses an entry saved for other patterns, under the exact key and under a restore key', async () => {
      const { main } = await job({ key: 'patterns-v1', path: 'vendor', 'restore-keys': 'patterns-' });
      expect(main.outputs['cache-hit']).toBe('false');
      expect(main.outputs['matched-key']).toBe('');
      expect(main.stdout).toContain('No cache entry for key patterns-v1 or its restore keys');
    });
  },
);
