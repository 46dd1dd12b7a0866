import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPTS = join(import.meta.dirname, '..', '..', 'scripts');

// Why: without Dir::State and Dir::Log even a download-only apt run rewrites the host's
// /var/lib/apt and /var/log/apt; the scripts must keep every piece of apt state private.
describe('the private apt the install scripts share', () => {
  const text = readFileSync(join(SCRIPTS, 'lib', 'private-apt.sh'), 'utf8');

  it('keeps apt state, cache and logs in its own directory', () => {
    for (const option of ['Dir::State', 'Dir::State::Lists', 'Dir::State::status', 'Dir::Cache', 'Dir::Log'])
      expect(text).toMatch(new RegExp(`-o ${option}="\\$dir/`));
  });

  it('never reads the machine-wide sources list or preferences', () => {
    expect(text).toContain('Dir::Etc::sourcelist=/dev/null');
    expect(text).toContain('Dir::Etc::preferences=/dev/null');
  });
});

describe.each(['install-buildbox-casd.sh', 'install-bazel.sh', 'install-buildstream2.sh'])('%s', (name) => {
  const text = readFileSync(join(SCRIPTS, name), 'utf8');

  it('runs apt only with the private options', () => {
    expect(text).toContain('source "$(dirname "${BASH_SOURCE[0]}")/lib/private-apt.sh"');
    for (const call of text.matchAll(/^\s*\(?(?:cd [^&]+&& )?(apt-get|apt-cache) (.*)$/gm))
      expect(call[2], call[0]).toMatch(/^"\$\{apt_private\[@\]\}"/);
  });
});
