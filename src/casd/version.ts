import { execFile } from 'node:child_process';
import { CasError } from '../errors.js';

const cache = new Map<string, Promise<string>>();

/** Extracts `1.4.30` from `buildbox-casd 1.4.30`; undefined when there is no version. */
export function parseCasdVersion(output: string): string | undefined {
  return /\b(\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.-]+)?)\b/.exec(output)?.[1];
}

/**
 * The version of the buildbox-casd at `binary`, from `binary --version /` (casd insists on a
 * positional cache path even here). Asked once per binary per process.
 * Throws CasError('daemon-start') when the binary cannot run or prints no version.
 */
export function casdVersion(binary: string, timeoutMs = 10_000): Promise<string> {
  let pending = cache.get(binary);
  if (!pending) {
    pending = new Promise<string>((resolve, reject) => {
      execFile(binary, ['--version', '/'], { timeout: timeoutMs }, (err, stdout, stderr) => {
        const version = parseCasdVersion(`${stdout}\n${stderr}`);
        if (version) resolve(version);
        else {
          const why = err ? err.message : `it printed no version: ${`${stdout}${stderr}`.trim()}`;
          reject(new CasError('daemon-start', `cannot get the version of ${binary}: ${why}`, { cause: err }));
        }
      });
    });
    cache.set(binary, pending);
    // A failure is not remembered: the binary may be fixed or installed later.
    pending.catch(() => cache.delete(binary));
  }
  return pending;
}
