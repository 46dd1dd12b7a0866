import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';

/** Writes `count` files of a few hundred bytes to a few kB under `dir`, some executable. */
export function writeWorkspaceTree(dir: string, count: number, seed = 'v1'): void {
  for (let i = 0; i < count; i++) {
    const path = join(dir, `d${i % 7}`, `sub${i % 3}`, `f${i}.txt`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${seed}:${i}:`.padEnd(200 + (i % 50) * 37, String.fromCharCode(97 + (i % 26))), {
      mode: i % 10 === 0 ? 0o755 : 0o644,
    });
  }
}

/** Every file under `dir` with its contents, for comparing trees. */
export function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else
        out[relative(dir, path)] =
          `${(statSync(path).mode & 0o111) !== 0 ? 'x' : '-'}${readFileSync(path, 'utf8')}`;
    }
  };
  walk(dir);
  return out;
}

/** How many objects a casd cache directory holds (what a remote's store gained is a difference). */
export function countObjects(cacheDir: string): number {
  const objects = join(cacheDir, 'cas', 'objects');
  let count = 0;
  for (const prefix of readdirSync(objects)) count += readdirSync(join(objects, prefix)).length;
  return count;
}

/** A stand-in for the GitHub REST API's jobs endpoint, reporting this job's step conclusions. */
export async function startJobsApi(): Promise<
  TestHttpServer & {
    conclusion: string;
    httpStatus: number;
    env: Record<string, string>;
    /** Called as each jobs request arrives, before it is answered. */
    onRequest?: () => void;
  }
> {
  const api = await startHttpServer((req, res) => {
    if (!req.url?.startsWith('/repos/octo/repo/actions/runs/')) return void res.writeHead(404).end();
    state.onRequest?.();
    // 403 is what a token without `actions: read` gets.
    if (state.httpStatus !== 200)
      return void res.writeHead(state.httpStatus).end('{"message":"Resource not accessible by integration"}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        jobs: [
          {
            id: 1,
            name: 'build',
            runner_name: 'test-runner',
            status: 'in_progress',
            steps: [{ name: 'build', status: 'completed', conclusion: state.conclusion }],
          },
        ],
      }),
    );
  });
  const state: TestHttpServer & {
    conclusion: string;
    httpStatus: number;
    env: Record<string, string>;
    onRequest?: () => void;
  } = Object.assign(api, {
    conclusion: 'success',
    httpStatus: 200,
    env: {
      GITHUB_API_URL: api.url,
      GITHUB_REPOSITORY: 'octo/repo',
      GITHUB_RUN_ID: '1001',
      GITHUB_RUN_ATTEMPT: '1',
      RUNNER_NAME: 'test-runner',
      RUNNER_OS: 'Linux',
      RUNNER_ARCH: 'X64',
    },
  });
  return state;
}
