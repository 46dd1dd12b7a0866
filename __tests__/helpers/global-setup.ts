import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** Finds buildbox-casd via BUILDBOX_CASD or PATH, installing it with the project script if absent. */
function locateCasd(): string {
  const given = process.env.BUILDBOX_CASD;
  if (given) {
    if (!existsSync(given)) throw new Error(`BUILDBOX_CASD=${given} does not exist`);
    return given;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'buildbox-casd');
    if (dir && existsSync(candidate)) return candidate;
  }
  const script = join(import.meta.dirname, '..', '..', 'scripts', 'install-buildbox-casd.sh');
  return execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

export default function setup(): void {
  const casd = locateCasd();
  process.env.BUILDBOX_CASD = casd;
  // recc, casupload and casdownload sit beside casd in the same prefix.
  process.env.PATH = `${dirname(casd)}${delimiter}${process.env.PATH ?? ''}`;
}
