#!/usr/bin/env node
// Regenerates src/gen from protos/ with buf (an npm package, no download) and ts-proto.
// `--check` generates into a temp dir and fails if it differs from the committed code.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const check = process.argv.includes('--check');
const out = check ? mkdtempSync(join(tmpdir(), 'casd-gen-')) : join(root, 'src', 'gen');

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const template = readFileSync(join(root, 'buf.gen.yaml'), 'utf8').replace(/out: src\/gen/, `out: ${out}`);
const templateFile = join(mkdtempSync(join(tmpdir(), 'casd-buf-')), 'buf.gen.yaml');
writeFileSync(templateFile, template);
if (!check) rmSync(out, { recursive: true, force: true });
execFileSync(join(root, 'node_modules', '.bin', 'buf'), ['generate', '--template', templateFile], {
  cwd: root,
  stdio: 'inherit',
});

// ts-proto (env=node) decodes a bytes field as `Buffer.from(reader.bytes())`: a copy of every
// blob received. A view of the received message is enough (grpc-js gives each message its own
// buffer), and the copy cost 0.3-0.4 s of CPU and GC per 291 MB read from a remote (bench).
const BYTES_COPY = 'Buffer.from(reader.bytes())';
const BYTES_VIEW = '((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))(reader.bytes())';
for (const file of files(out).filter((f) => f.endsWith('.ts'))) {
  const text = readFileSync(file, 'utf8');
  if (text.includes(BYTES_COPY)) writeFileSync(file, text.replaceAll(BYTES_COPY, BYTES_VIEW));
}

if (check) {
  const committed = join(root, 'src', 'gen');
  const fresh = new Map(files(out).map((f) => [relative(out, f), readFileSync(f, 'utf8')]));
  const old = new Map(files(committed).map((f) => [relative(committed, f), readFileSync(f, 'utf8')]));
  const differing = [...new Set([...fresh.keys(), ...old.keys()])].filter((k) => fresh.get(k) !== old.get(k));
  rmSync(out, { recursive: true, force: true });
  if (differing.length > 0) {
    console.error(`src/gen is out of date with protos/ (run npm run protos): ${differing.join(', ')}`);
    process.exit(1);
  }
  console.log('src/gen matches protos/');
}
