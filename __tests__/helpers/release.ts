import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { casdBinary } from './casd.js';
import { startHttpServer, type TestHttpServer } from './http-server.js';

/**
 * A buildbox release tarball shaped like the official one (`buildbox-casd`, `buildbox-fuse`,
 * `buildbox-run` and `buildbox-run-bubblewrap` at the top level), whose `buildbox-casd` runs
 * the real casd installed for tests.
 */
export function buildReleaseArchive(): { data: Buffer; sha256: string } {
  const dir = mkdtempSync(join(tmpdir(), 'release-'));
  const staging = join(dir, 'staging');
  mkdirSync(staging);
  writeFileSync(join(staging, 'buildbox-casd'), `#!/bin/sh\nexec "${casdBinary()}" "$@"\n`, { mode: 0o755 });
  for (const tool of ['buildbox-fuse', 'buildbox-run', 'buildbox-run-bubblewrap']) {
    writeFileSync(join(staging, tool), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  }
  const archive = join(dir, 'buildbox-x86_64-linux-gnu.tgz');
  execFileSync('tar', ['-czf', archive, '-C', staging, '.']);
  const data = readFileSync(archive);
  return { data, sha256: createHash('sha256').update(data).digest('hex') };
}

/** Serves the archive at `/releases/<version>/buildbox-x86_64-linux-gnu.tgz`; `urlTemplate` for casd-url. */
export async function startReleaseServer(): Promise<
  TestHttpServer & { urlTemplate: string; sha256: string }
> {
  const archive = buildReleaseArchive();
  const server = await startHttpServer((req, res) => {
    if (/^\/releases\/[^/]+\/buildbox-x86_64-linux-gnu\.tgz$/.test(req.url ?? '')) {
      res.writeHead(200, { 'content-type': 'application/gzip' }).end(archive.data);
    } else res.writeHead(404).end('not found');
  });
  return Object.assign(server, {
    urlTemplate: `${server.url}/releases/{version}/buildbox-{arch}-linux-gnu.tgz`,
    sha256: archive.sha256,
  });
}
