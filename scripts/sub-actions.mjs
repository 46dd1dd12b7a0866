#!/usr/bin/env node
// Writes restore/action.yml and save/action.yml, the sub-actions, from action.yml, so that
// their inputs never drift from the main action's:
//   restore: every input and output of action.yml; runs dist/restore (the main step, no post).
//   save:    path, key and the save-phase inputs, each empty by default: empty means "as the
//            restore step had it"; runs dist/save.
//
// usage: node scripts/sub-actions.mjs [--check]   (--check: write nothing, exit 1 when stale)
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

const root = join(import.meta.dirname, '..');
const check = process.argv.includes('--check');
const action = parse(readFileSync(join(root, 'action.yml'), 'utf8'));

/** The save sub-action's own inputs (src/action/save-step.ts SAVE_INPUTS lists the same). */
const SAVE_INPUTS = [
  'path',
  'key',
  'cache-dir',
  'save-refs',
  'save-local-cache',
  'save-timeout',
  'fail-on-cache-error',
  'github-token',
];

const HEADER = '# Generated from ../action.yml by scripts/sub-actions.mjs (npm run docs); do not edit.\n';

const restore = {
  name: 'casd-action/restore',
  description:
    'Install and start the cache daemon and restore refs and path/key, leaving the daemon running for the job; casd-action/save saves and stops it',
  author: action.author,
  branding: action.branding,
  inputs: action.inputs,
  outputs: action.outputs,
  runs: { using: action.runs.using, main: '../dist/restore/index.js' },
};

const saveInputs = {};
for (const name of SAVE_INPUTS) {
  const spec = action.inputs[name];
  if (!spec) throw new Error(`action.yml has no input ${name}`);
  const expression = typeof spec.default === 'string' && spec.default.includes('${{');
  saveInputs[name] = {
    description: `${spec.description}. Empty: as the restore step had it${name === 'key' ? ' (its key input, what restore reported as cache-primary-key)' : ''}`,
    required: false,
    default: expression ? spec.default : '',
  };
}
const save = {
  name: 'casd-action/save',
  description:
    'Capture path, push what the remote lacks, publish key, persist the local cache and stop the daemon that casd-action/restore started',
  author: action.author,
  branding: action.branding,
  inputs: saveInputs,
  runs: { using: action.runs.using, main: '../dist/save/index.js' },
};

let stale = false;
for (const [dir, doc] of [
  ['restore', restore],
  ['save', save],
]) {
  const path = join(root, dir, 'action.yml');
  const text =
    HEADER + stringify(doc, { lineWidth: 0, defaultStringType: 'QUOTE_SINGLE', defaultKeyType: 'PLAIN' });
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (current === text) continue;
  stale = true;
  if (!check) {
    mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(path, text);
    console.log(`wrote ${dir}/action.yml`);
  }
}
if (check && stale) {
  console.error('restore/action.yml or save/action.yml is out of date with action.yml: run npm run docs');
  process.exit(1);
}
if (check) console.log('restore/action.yml and save/action.yml match action.yml');
