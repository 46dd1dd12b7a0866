import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

function runCheck(cwd: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(cwd, 'scripts', 'protos.mjs'), '--check'], {
    cwd,
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('generated code (src/gen)', () => {
  const temps: string[] = [];
  afterAll(() => {
    for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  });

  it('matches a fresh generation from protos/', () => {
    const result = runCheck(root);
    expect(result.stderr).not.toContain('out of date');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('src/gen matches protos/');
  });

  it('check fails and names the file when the committed code drifts', () => {
    // A copy of just what the check reads, with one generated file edited by hand.
    const copy = mkdtempSync(join(tmpdir(), 'casd-gen-drift-'));
    temps.push(copy);
    for (const path of ['scripts/protos.mjs', 'buf.yaml', 'buf.gen.yaml', 'protos', 'src/gen']) {
      cpSync(join(root, path), join(copy, path), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
    appendFileSync(join(copy, 'src/gen/google/rpc/status.ts'), '\n// edited by hand\n');

    const result = runCheck(copy);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('src/gen is out of date with protos/ (run npm run protos)');
    expect(result.stderr).toContain('google/rpc/status.ts');
  });
});

/** What every ts-proto message export has. */
interface MessageFns {
  encode(message: unknown): { finish(): Uint8Array };
  decode(input: Uint8Array): unknown;
  fromPartial(object: object): unknown;
}

function isMessageFns(value: unknown): value is MessageFns {
  if (typeof value !== 'object' || value === null) return false;
  const fns = value as Record<string, unknown>;
  return (
    typeof fns.encode === 'function' &&
    typeof fns.decode === 'function' &&
    typeof fns.fromPartial === 'function'
  );
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('every generated message type', () => {
  const genDir = join(root, 'src', 'gen');

  it('round-trips its default instance through encode and decode', async () => {
    const seen: string[] = [];
    for (const file of tsFiles(genDir)) {
      const module = (await import(file)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(module)) {
        if (!isMessageFns(value)) continue;
        const empty = value.fromPartial({});
        const bytes = value.encode(empty).finish();
        // proto3: a message with every field at its default encodes to nothing.
        expect(bytes.byteLength, name).toBe(0);
        expect(value.decode(bytes), name).toEqual(empty);
        seen.push(`${relative(genDir, file)}:${name}`);
      }
    }
    expect(seen).toContain('build/bazel/remote/execution/v2/remote_execution.ts:Digest');
    expect(seen).toContain('build/buildgrid/local_cas.ts:CaptureTreeRequest');
    expect(seen).toContain('google/bytestream/bytestream.ts:WriteRequest');
    expect(seen.length).toBeGreaterThan(80);
  });
});
