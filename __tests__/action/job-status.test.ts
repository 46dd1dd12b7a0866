import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isForkPullRequest, readJobStatus } from '../../src/action/job-status.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';

let steps: { name: string; status: string; conclusion: string | null }[] = [];
let statusCode = 200;
/** A body to answer with instead of the jobs list. */
let rawBody: string | undefined;

describe('readJobStatus', () => {
  let api: TestHttpServer;
  beforeAll(async () => {
    api = await startHttpServer((req, res) => {
      if (req.headers.authorization !== 'Bearer ghs_token') return void res.writeHead(401).end();
      if (statusCode !== 200) return void res.writeHead(statusCode).end('{}');
      if (rawBody !== undefined)
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(rawBody);
      if (req.url?.startsWith('/repos/o/r/actions/runs/77/attempts/2/jobs')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            jobs: [
              {
                id: 1,
                name: 'other',
                runner_name: 'runner-b',
                status: 'in_progress',
                steps: [{ name: 's', status: 'completed', conclusion: 'failure' }],
              },
              { id: 2, name: 'build', runner_name: 'runner-a', status: 'in_progress', steps },
            ],
          }),
        );
      } else res.writeHead(404).end();
    });
  });
  afterAll(() => api.stop());

  const env = () => ({
    GITHUB_API_URL: api.url,
    GITHUB_REPOSITORY: 'o/r',
    GITHUB_RUN_ID: '77',
    GITHUB_RUN_ATTEMPT: '2',
    RUNNER_NAME: 'runner-a',
  });

  it('reports success when every finished step of this job succeeded', async () => {
    steps = [
      { name: 'build', status: 'completed', conclusion: 'success' },
      { name: 'post', status: 'in_progress', conclusion: null },
    ];
    statusCode = 200;
    expect((await readJobStatus(env(), 'ghs_token')).status).toBe('success');
  });

  it('reports failure when a step of this job failed, ignoring other jobs', async () => {
    steps = [{ name: 'build', status: 'completed', conclusion: 'failure' }];
    expect(await readJobStatus(env(), 'ghs_token')).toMatchObject({
      status: 'failure',
      detail: expect.stringContaining('"build"'),
    });
  });

  it('reports cancelled', async () => {
    steps = [{ name: 'build', status: 'completed', conclusion: 'cancelled' }];
    expect((await readJobStatus(env(), 'ghs_token')).status).toBe('cancelled');
  });

  it('says why the status is unknown when the token lacks permission', async () => {
    statusCode = 403;
    const result = await readJobStatus(env(), 'ghs_token');
    statusCode = 200;
    expect(result).toEqual({ status: 'unknown', detail: expect.stringContaining('actions: read') });
  });

  it('is unknown, not an error, when the API answers JSON that is not a jobs list', async () => {
    try {
      for (const body of ['null', '[]', '{"jobs":null}']) {
        rawBody = body;
        expect(await readJobStatus(env(), 'ghs_token')).toMatchObject({
          status: 'unknown',
          detail: expect.stringContaining('not found'),
        });
      }
    } finally {
      rawBody = undefined;
    }
  });

  it('is unknown without a token or outside Actions', async () => {
    expect((await readJobStatus(env(), undefined)).status).toBe('unknown');
    expect((await readJobStatus({}, 'ghs_token')).detail).toContain('not running');
  });

  it('is unknown when the API cannot be reached', async () => {
    const result = await readJobStatus({ ...env(), GITHUB_API_URL: 'http://127.0.0.1:1' }, 'ghs_token');
    expect(result.status).toBe('unknown');
  });
});

describe('isForkPullRequest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'event-'));
  const event = (head: string) => {
    const path = join(dir, `${head.replace('/', '_')}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        pull_request: { head: { repo: { full_name: head } }, base: { repo: { full_name: 'o/r' } } },
      }),
    );
    return { GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: path, GITHUB_REPOSITORY: 'o/r' };
  };
  it('is true for a pull request from another repository', async () => {
    expect(await isForkPullRequest(event('fork/r'))).toBe(true);
  });
  it('is false for a pull request from the same repository and for pushes', async () => {
    expect(await isForkPullRequest(event('o/r'))).toBe(false);
    expect(await isForkPullRequest({ GITHUB_EVENT_NAME: 'push' })).toBe(false);
  });
});
