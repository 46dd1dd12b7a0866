import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPTS = join(import.meta.dirname, '..', '..', 'scripts');

describe.each(['install-buildbox-casd.sh', 'install-bazel.sh', 'install-buildstream2.sh'])('%s', (name) => {
  const text = readFileSync(join(SCRIPTS, name), 'utf8');

  // Why: without Dir::State and Dir::Log even a download-only apt run rewrites the host's
  // /var/lib/apt and /var/log/apt; the scripts must keep every piece of apt state private.
  it('keeps apt state and logs in its own prefix', () => {
    expect(text).toMatch(/-o Dir::State="?\$/);
    expect(text).toMatch(/-o Dir::Log="?\$/);
    expect(text).toMatch(/-o Dir::State::status="?\$/);
  });

  it('never reads the machine-wide sources list', () => {
    expect(text).toContain('Dir::Etc::sourcelist=/dev/null');
  });
});
