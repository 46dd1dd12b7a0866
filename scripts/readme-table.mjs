#!/usr/bin/env node
// Renders the inputs and outputs of action.yml as markdown tables into README.md, between
// `<!-- inputs:start -->` / `<!-- inputs:end -->` and `<!-- outputs:start -->` /
// `<!-- outputs:end -->`, and those of the sub-actions (restore/action.yml, save/action.yml)
// between `<!-- restore-inputs:start -->` ... and `<!-- save-inputs:start -->` ..., so the
// README never disagrees with the actions' interfaces.
//
// usage: node scripts/readme-table.mjs [--check]
//   --check  change nothing; exit 1 when README.md is out of date with action.yml
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '..');
const readmePath = join(root, 'README.md');
const check = process.argv.includes('--check');

/** Makes text safe inside one markdown table cell. */
function cell(text) {
  return String(text ?? '')
    .trim()
    .replace(/\r?\n/g, ' ')
    .replace(/\|/g, '\\|');
}

/** Shows a default as code, or a dash when there is none. */
function defaultCell(value) {
  const text = value === undefined || value === null ? '' : String(value);
  if (text === '') return '';
  // Why double backticks when needed: a default may itself contain a backtick.
  const fence = text.includes('`') ? '``' : '`';
  return `${fence}${cell(text)}${fence}`;
}

/** Markdown table of action.yml inputs: name, description, default. */
function inputsTable(inputs) {
  const rows = Object.entries(inputs ?? {}).map(
    ([name, spec]) =>
      `| \`${name}\` | ${cell(spec?.description)}${spec?.required ? ' (required)' : ''} | ${defaultCell(spec?.default)} |`,
  );
  return ['| name | description | default |', '| --- | --- | --- |', ...rows].join('\n');
}

/** Markdown table of action.yml outputs: name, description. */
function outputsTable(outputs) {
  const rows = Object.entries(outputs ?? {}).map(
    ([name, spec]) => `| \`${name}\` | ${cell(spec?.description)} |`,
  );
  return ['| name | description |', '| --- | --- |', ...rows].join('\n');
}

/** Replaces the text between `<!-- {section}:start -->` and `<!-- {section}:end -->`. */
function replaceSection(text, section, body) {
  const start = `<!-- ${section}:start -->`;
  const end = `<!-- ${section}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to === -1 || to < from) {
    throw new Error(`README.md has no "${start}" ... "${end}" section; add both markers`);
  }
  return `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
}

const load = (file) => parse(readFileSync(join(root, file), 'utf8'));
const action = load('action.yml');
const restore = load('restore/action.yml');
const save = load('save/action.yml');
const current = readFileSync(readmePath, 'utf8');
let updated;
try {
  updated = replaceSection(current, 'inputs', inputsTable(action.inputs));
  updated = replaceSection(updated, 'outputs', outputsTable(action.outputs));
  updated = replaceSection(updated, 'restore-inputs', inputsTable(restore.inputs));
  updated = replaceSection(updated, 'restore-outputs', outputsTable(restore.outputs));
  updated = replaceSection(updated, 'save-inputs', inputsTable(save.inputs));
} catch (err) {
  console.error(`readme-table: ${err.message}`);
  process.exit(1);
}

if (check) {
  if (updated !== current) {
    console.error(
      'README.md inputs/outputs tables are out of date with the action.yml files: run npm run docs',
    );
    process.exit(1);
  }
  console.log('README.md tables match action.yml');
} else if (updated !== current) {
  writeFileSync(readmePath, updated);
  console.log('README.md tables updated from action.yml');
} else {
  console.log('README.md tables already match action.yml');
}
