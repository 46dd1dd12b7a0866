import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkJson, SCHEMAS, type VerifyJson } from '../../src/cli/json.js';
import { cliOk, runCli, tempDir } from './run-cli.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('casd-action verify', () => {
  const tmp = tempDir('cli-verify-');
  const cache = join(tmp.dir, 'cache');
  const g = ['--cache-dir', cache];
  const objectPath = (text: string): string => {
    const hash = sha256(text);
    return join(cache, 'cas', 'objects', hash.slice(0, 2), hash.slice(2));
  };
  /** Overwrites the object holding `text` in place, as a write through a hard link does. */
  const tamper = (text: string, bytes: string): void => {
    chmodSync(objectPath(text), 0o644);
    writeFileSync(objectPath(text), bytes);
  };
  /** Captures `files` under `ref` (and keeps the object of each content). */
  const captureRef = async (ref: string, files: Record<string, string>): Promise<void> => {
    const dir = join(tmp.dir, ref);
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    await cliOk(['capture', dir, '--ref', ref, ...g]);
  };

  async function verifyJson(args: string[]): Promise<{ code: number; document: VerifyJson; stderr: string }> {
    const result = await runCli(['verify', ...args, ...g, '--json']);
    const document = JSON.parse(result.stdout) as VerifyJson;
    expect(checkJson(document, SCHEMAS.verify)).toEqual([]);
    return { code: result.code, document, stderr: result.stderr };
  }

  beforeAll(async () => {
    await captureRef('one', { 'a.txt': 'alpha of one\n', 'b.txt': 'beta of one\n' });
    await captureRef('two', { 'c.txt': 'gamma of two\n' });
  });
  afterAll(() => tmp.remove());

  it('a clean cache: counts every object, evicts nothing, exits 0', async () => {
    const { code, document } = await verifyJson([]);
    expect(code).toBe(0);
    expect(document.evicted).toEqual([]);
    expect(document.missing).toBe(0);
    // Three files and two root Directories at least.
    expect(document.checked).toBeGreaterThanOrEqual(5);
    expect(document.bytes).toBeGreaterThan(0);
  });

  it('every object: evicts the damaged one (named by its hash), prints it, exits 1', async () => {
    tamper('gamma of two\n', 'GAMMA');
    const text = await runCli(['verify', ...g]);
    expect(text.code, text.stderr).toBe(1);
    const path = objectPath('gamma of two\n');
    expect(text.stdout).toContain(`evicted ${sha256('gamma of two\n')} ${path}\n`);
    expect(text.stdout).toMatch(/^checked \d+ objects \([\d.]+ [kMG]?B\), evicted 1$/m);
    expect(text.stderr).toContain('1 object(s) did not match their digest and were evicted');
    expect(existsSync(path)).toBe(false);
    // Nothing left to find.
    const again = await verifyJson([]);
    expect(again.code).toBe(0);
    expect(again.document.evicted).toEqual([]);
  });

  it('with refs: checks only their trees, names evicted objects HASH/SIZE, counts what is missing', async () => {
    tamper('alpha of one\n', 'ALPHA of one\n');
    tamper('beta of one\n', 'BETA of one\n');
    // Outside ref one: left alone by `verify one`.
    await captureRef('three', { 'd.txt': 'delta of three\n' });
    tamper('delta of three\n', 'DELTA');
    const { code, document } = await verifyJson(['one']);
    expect(code).toBe(1);
    expect(document.evicted.sort((x, y) => (x.digest < y.digest ? -1 : 1))).toEqual(
      [
        { digest: `${sha256('alpha of one\n')}/13`, path: objectPath('alpha of one\n') },
        { digest: `${sha256('beta of one\n')}/12`, path: objectPath('beta of one\n') },
      ].sort((x, y) => (x.digest < y.digest ? -1 : 1)),
    );
    // The root Directory and the two files.
    expect(document.checked).toBe(3);
    expect(readFileSync(objectPath('delta of three\n'), 'utf8')).toBe('DELTA');
    const text = await runCli(['verify', 'one', 'two', ...g]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^checked 2 objects \(.+\), evicted 0; 3 not in the local cache$/m);
  });

  it('a ref that does not exist fails naming it; a malformed one is a usage error', async () => {
    const missing = await runCli(['verify', 'no-such-ref', ...g]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no-such-ref');
    const bad = await runCli(['verify', '../escape', ...g]);
    expect(bad.code).toBe(2);
  });
});
