import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { cliOk, runCli, tempDir } from '../cli/run-cli.js';

/** Output of one recc compile through the daemon at `socket`. */
function reccCompile(socket: string, cwd: string): Promise<{ code: number; log: string }> {
  const env = {
    ...process.env,
    RECC_SERVER: socket,
    RECC_CACHE_ONLY: '1',
    RECC_CACHE_UPLOAD_LOCAL_BUILD: '1',
    RECC_VERBOSE: '1',
  };
  rmSync(join(cwd, 'hello.o'), { force: true });
  return new Promise((resolve) => {
    execFile('recc', ['gcc', '-c', 'hello.c', '-o', 'hello.o'], { cwd, env }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, log: `${stdout}${stderr}` });
    });
  });
}

describe('recc through the casd-action daemon', () => {
  const tmp = tempDir('recc-');
  const src = join(tmp.dir, 'src');
  let remote: TestCasd;

  beforeAll(async () => {
    mkdirSync(src);
    writeFileSync(join(src, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n');
    remote = await startTestCasd({ tcp: true });
  });

  afterAll(async () => {
    for (const name of ['local', 'proxy', 'fresh'])
      await runCli(['stop', '--cache-dir', join(tmp.dir, name)]);
    await remote?.stop();
    tmp.remove();
  });

  async function start(name: string, extra: string[] = []): Promise<string> {
    const result = await cliOk(['start', '--cache-dir', join(tmp.dir, name), ...extra]);
    return result.stdout.trim();
  }

  it('gets an Action Cache hit on the second compile with a local-only daemon', async () => {
    const socket = await start('local');
    const first = await reccCompile(socket, src);
    expect(first.code, first.log).toBe(0);
    expect(first.log).not.toContain('Action Cache hit');
    expect(existsSync(join(src, 'hello.o'))).toBe(true);
    const second = await reccCompile(socket, src);
    expect(second.code, second.log).toBe(0);
    expect(second.log).toContain('Action Cache hit');
    expect(existsSync(join(src, 'hello.o'))).toBe(true);
    await cliOk(['stop', '--cache-dir', join(tmp.dir, 'local')]);
  });

  it('gets a hit through a daemon proxying to a remote, then from a fresh local cache via the remote', async () => {
    const url = remote.url as string;
    // A different source text than the local-only test, so that only the remote can hold it.
    writeFileSync(join(src, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("remote"); return 0; }\n');
    const socket = await start('proxy', ['--remote', url]);
    const first = await reccCompile(socket, src);
    expect(first.code, first.log).toBe(0);
    expect(first.log).not.toContain('Action Cache hit');
    const second = await reccCompile(socket, src);
    expect(second.log).toContain('Action Cache hit');
    await cliOk(['stop', '--cache-dir', join(tmp.dir, 'proxy')]);

    const freshSocket = await start('fresh', ['--remote', url]);
    const fromRemote = await reccCompile(freshSocket, src);
    expect(fromRemote.code, fromRemote.log).toBe(0);
    expect(fromRemote.log).toContain('Action Cache hit');
    expect(existsSync(join(src, 'hello.o'))).toBe(true);
    await cliOk(['stop', '--cache-dir', join(tmp.dir, 'fresh')]);
  });
});
