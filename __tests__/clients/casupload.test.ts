import { execFile } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaptureJson, CheckoutJson, StartJson } from '../../src/cli/json.js';
import { SCHEMAS } from '../../src/cli/json.js';
import { cliJson, runCli, tempDir } from '../cli/run-cli.js';

/** Every entry under `root`: path -> `file <mode> <content>`, `link <target>` or `dir`. */
function snapshot(root: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const info = lstatSync(join(root, rel));
    if (info.isSymbolicLink()) out[rel] = `link ${readlinkSync(join(root, rel))}`;
    else if (info.isDirectory()) {
      out[rel] = 'dir';
      Object.assign(out, snapshot(root, rel));
    } else out[rel] = `file ${info.mode & 0o111 ? 'x' : '-'} ${readFileSync(join(root, rel), 'utf8')}`;
  }
  return out;
}

function run(command: string, args: string[], cwd?: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

describe('casupload / casdownload and casd-action on the same daemon', () => {
  const tmp = tempDir('casupload-');
  const cache = ['--cache-dir', join(tmp.dir, 'cache')];
  const src = join(tmp.dir, 'src');
  let started: StartJson;

  beforeAll(async () => {
    mkdirSync(join(src, 'd', 'e'), { recursive: true });
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho run\n');
    chmodSync(join(src, 'run.sh'), 0o755);
    writeFileSync(join(src, 'd', 'e', 'data.txt'), 'data\n'.repeat(1000));
    writeFileSync(join(src, 'd', 'empty'), '');
    symlinkSync('d/e/data.txt', join(src, 'link'));
    started = await cliJson<StartJson>(['start', ...cache], SCHEMAS.start);
  });

  afterAll(async () => {
    await runCli(['stop', ...cache]);
    tmp.remove();
  });

  it('checks out what casupload uploaded to the socket, identical to the source', async () => {
    const digestFile = join(tmp.dir, 'digest');
    const upload = await run(
      'casupload',
      [`--remote=${started.socket}`, `--output-digest-file=${digestFile}`, '.'],
      src,
    );
    expect(upload.code, upload.output).toBe(0);
    const digest = readFileSync(digestFile, 'utf8').trim();
    const out = join(tmp.dir, 'checked-out');
    const result = await cliJson<CheckoutJson>(['checkout', digest, out, ...cache], SCHEMAS.checkout);
    expect(result).toMatchObject({ files: 3, symlinks: 1, directories: 2 });
    expect(snapshot(out)).toEqual(snapshot(src));
  });

  it('casdownload fetches what casd-action captured, identical to the source', async () => {
    const captured = await cliJson<CaptureJson>(['capture', src, ...cache], SCHEMAS.capture);
    const dest = join(tmp.dir, 'downloaded');
    const download = await run('casdownload', [
      `--remote=${started.socket}`,
      `--root-digest=${captured.digest}`,
      `--destination-dir=${dest}`,
    ]);
    expect(download.code, download.output).toBe(0);
    expect(snapshot(dest)).toEqual(snapshot(src));
  });
});
