import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'release-notes.mjs');

describe('release notes from CHANGELOG.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'notes-'));
  const changelog = join(dir, 'CHANGELOG.md');
  writeFileSync(
    changelog,
    '# Changelog\n\n## Unreleased\n\n- next\n\n## [1.2.0] - 2026-12-01\n\n### Added\n- a thing\n\n## 1.1.0\n\n- older\n',
  );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the section of the version, up to the next one', () => {
    expect(execFileSync('node', [SCRIPT, '1.2.0', changelog], { encoding: 'utf8' })).toBe(
      '### Added\n- a thing\n',
    );
  });

  it('fails naming the version when it has no section', () => {
    const run = spawnSync('node', [SCRIPT, '9.9.9', changelog], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('has no section for 9.9.9');
  });
});
