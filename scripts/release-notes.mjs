#!/usr/bin/env node
// Prints the CHANGELOG.md section of one version (`## [1.2.3]` or `## 1.2.3`, up to the next
// `## `), for the release workflow's notes. Exits 1 when the version has no section.
//
// usage: node scripts/release-notes.mjs VERSION [CHANGELOG]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [version, file = join(import.meta.dirname, '..', 'CHANGELOG.md')] = process.argv.slice(2);
if (!version) {
  console.error('usage: node scripts/release-notes.mjs VERSION [CHANGELOG]');
  process.exit(2);
}
const lines = readFileSync(file, 'utf8').split('\n');
const heading = new RegExp(`^## \\[?v?${version.replaceAll('.', '\\.')}\\]?(\\s|$)`);
const start = lines.findIndex((line) => heading.test(line));
if (start < 0) {
  console.error(`${file} has no section for ${version} (a "## ${version}" heading)`);
  process.exit(1);
}
const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
process.stdout.write(
  `${lines
    .slice(start + 1, end < 0 ? undefined : end)
    .join('\n')
    .trim()}\n`,
);
