import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type FakeDaemonMode = 'never-ready' | 'ignore-term';

/**
 * Writes an executable stand-in for buildbox-casd into `dir` and returns its path. It runs
 * fake-daemon.mjs under this Node; `mode` says how it misbehaves (see that file).
 */
export function fakeCasdBinary(dir: string, mode: FakeDaemonMode): string {
  const path = join(dir, `fake-casd-${mode}`);
  const script = join(import.meta.dirname, 'fake-daemon.mjs');
  const real = process.env.BUILDBOX_CASD ?? 'buildbox-casd';
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      `FAKE_CASD_MODE='${mode}' FAKE_CASD_REAL='${real}'`,
      'export FAKE_CASD_MODE FAKE_CASD_REAL',
      `exec '${process.execPath}' '${script}' "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return path;
}
