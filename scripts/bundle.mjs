#!/usr/bin/env node
// Bundles the compiled entry points (lib/, from `npm run build`) with @vercel/ncc into
// self-contained ES modules under dist/: dist/steps/index.js (every step of the action, one
// bundle), dist/cli/index.js (the `casd-action` bin) and dist/bazel-bridge/index.js. The steps
// action.yml and the sub-actions run, dist/{main,post,restore,save}/index.js, are a few lines
// each over dist/steps: the action's checkout carries one 5.7 MB bundle instead of four.
// (Node's compile cache in RUNNER_TEMP was measured and left out: the first step's writing it
// cost as much, ~55 ms, as each later step's reading it saved, ~60 ms.)
//
// The output is reproducible: no source maps, no ncc cache, and each output directory is
// emptied first, so two runs (or a run in a fresh clone) give identical bytes. CI checks this
// with `npm run bundle && git diff --exit-code -- dist/`.
//
// usage: node scripts/bundle.mjs [entry ...]   (steps, cli, bazel-bridge, main, post, restore, save;
//        default: all)
import ncc from '@vercel/ncc';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');

/** Each bundle: its name under dist/, the compiled entry in lib/, and whether it is an executable. */
const ENTRIES = [
  { name: 'steps', input: 'lib/steps.js', bin: false },
  { name: 'cli', input: 'lib/cli/index.js', bin: true },
  { name: 'bazel-bridge', input: 'lib/bazel-bridge.js', bin: false },
];

/** The steps (dist/<name>/index.js, as action.yml and the sub-actions name them) over dist/steps. */
const STEPS = ['main', 'post', 'restore', 'save'];

/** A step's index.js: the shared bundle, told which step to run. */
function stepCode(name) {
  return `// The casd-action ${name} step, written by scripts/bundle.mjs: the shared bundle ../steps.
import { runEntry } from '../steps/index.js';

await runEntry('${name}');
`;
}

/** Writes dist/<name>/index.js and its ES-module marker for one step. */
function writeStep(name) {
  const outDir = join(root, 'dist', name);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'index.js'), stepCode(name));
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
  return [`dist/${name}/index.js`, `dist/${name}/package.json`];
}

const SHEBANG = '#!/usr/bin/env node\n';

/** Turns ncc's output into the file text we commit: one shebang at most, one final newline. */
function finalCode(code, bin) {
  // Why: tsc keeps the source's shebang and ncc may keep it too; strip any and add one back.
  const body = code.replace(/^#![^\n]*\n/, '');
  const text = body.endsWith('\n') ? body : `${body}\n`;
  return bin ? SHEBANG + text : text;
}

async function bundle({ name, input, bin }) {
  const inputPath = join(root, input);
  if (!existsSync(inputPath)) {
    throw new Error(`${input} does not exist: run \`npm run build\` first (or use \`npm run bundle\`)`);
  }
  const outDir = join(root, 'dist', name);
  const { code, assets } = await ncc(inputPath, {
    cache: false,
    minify: false,
    sourceMap: false,
    sourceMapRegister: false,
    license: 'licenses.txt',
    target: 'es2022',
    quiet: true,
  });
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const written = [];
  const write = (file, data, mode) => {
    const path = join(outDir, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
    if (mode !== undefined) chmodSync(path, mode);
    written.push(relative(root, path));
  };
  write('index.js', finalCode(code, bin), bin ? 0o755 : 0o644);
  for (const [file, asset] of Object.entries(assets ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    // Why: source maps are never emitted (sourceMap: false), but skip any an asset brings.
    // ncc emits its own package.json marker; ours below replaces it with a fixed mode.
    if (file.endsWith('.map') || file === 'package.json') continue;
    write(file, asset.source, (asset.permissions ?? 0) & 0o111 ? 0o755 : 0o644);
  }
  // Why: the bundle is an ES module; this marker makes Node load it as one wherever dist/
  // ends up, even without the repository's package.json above it.
  write('package.json', `${JSON.stringify({ type: 'module' }, null, 2)}\n`, 0o644);
  return written;
}

const wanted = process.argv.slice(2);
const known = [...ENTRIES.map((e) => e.name), ...STEPS];
const unknown = wanted.filter((name) => !known.includes(name));
if (unknown.length > 0) {
  console.error(`bundle: unknown entry ${unknown.join(', ')}; expected some of: ${known.join(', ')}`);
  process.exit(2);
}
for (const entry of ENTRIES.filter((e) => wanted.length === 0 || wanted.includes(e.name))) {
  const files = await bundle(entry);
  console.log(`bundled ${entry.input} -> ${files.join(', ')}`);
}
for (const name of STEPS.filter((n) => wanted.length === 0 || wanted.includes(n))) {
  console.log(`wrote ${writeStep(name).join(', ')} (over dist/steps)`);
}
