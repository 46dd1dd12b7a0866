// @grpc/grpc-js and the generated clients (src/gen) survive bundling with ncc: a small program
// using the library's Connection is compiled and bundled exactly as scripts/bundle.mjs bundles
// the entry points, then run under Node 24 against a real buildbox-casd.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ncc from '@vercel/ncc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';
import { NODE24, REPO_ROOT } from '../helpers/runner.js';

describe('a bundle that uses the gRPC clients', () => {
  let casd: TestCasd;
  let buildDir: string;
  let outDir: string;
  let bundle: string;

  beforeAll(async () => {
    casd = await startTestCasd();
    // Why inside the repository: ncc resolves @grpc/grpc-js from node_modules next to the
    // compiled files, and the package's "type": "module" must apply to them.
    mkdirSync(join(REPO_ROOT, '.tmp'), { recursive: true });
    buildDir = mkdtempSync(join(REPO_ROOT, '.tmp', 'bundle-probe-'));
    execFileSync(
      join(REPO_ROOT, 'node_modules', '.bin', 'tsc'),
      [
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--skipLibCheck',
        '--types',
        'node',
        '--rootDir',
        REPO_ROOT,
        '--outDir',
        buildDir,
        join(REPO_ROOT, '__tests__', 'bundle', 'fixtures', 'grpc-probe.ts'),
      ],
      { cwd: REPO_ROOT, stdio: 'pipe' },
    );
    const entry = join(buildDir, '__tests__', 'bundle', 'fixtures', 'grpc-probe.js');
    const { code } = await ncc(entry, {
      cache: false,
      sourceMap: false,
      target: 'es2022',
      quiet: true,
    });
    outDir = mkdtempSync(join(tmpdir(), 'casd-probe-dist-'));
    writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n');
    bundle = join(outDir, 'index.js');
    writeFileSync(bundle, code);
  });

  afterAll(async () => {
    await casd?.stop();
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('gets the daemon capabilities over a unix socket', () => {
    const result = spawnSync(NODE24, [bundle, casd.socket], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const capabilities = JSON.parse(result.stdout) as {
      cacheCapabilities?: { digestFunctions?: unknown[] };
    };
    expect(capabilities.cacheCapabilities?.digestFunctions?.length).toBeGreaterThan(0);
  });
});
