import { describe, expect, it } from 'vitest';
import { buildCasdArgs, serviceFlags } from '../../src/casd/args.js';
import { parseEndpoint } from '../../src/grpc/endpoint.js';
import { REMOTE_RETRY_LIMIT } from '../../src/grpc/options.js';
import { freePort, startTestCasd } from '../helpers/casd.js';

describe('retries of a failing remote', () => {
  it('gives casd the one remote retry limit in the flags it starts with', () => {
    expect(serviceFlags(parseEndpoint('grpcs://cache.example:443')).retryLimit).toBe(REMOTE_RETRY_LIMIT);
  });

  it('has casd started with those flags give up on a dead remote after REMOTE_RETRY_LIMIT retries', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const remoteArgs = buildCasdArgs({
      binary: 'buildbox-casd',
      cacheDir: '/unused',
      socketPath: '/unused.sock',
      remote: { cas: serviceFlags(parseEndpoint(url)) },
    }).filter((arg) => arg.startsWith('--cas-'));
    // Why the short delay: casd waits 1 s before its first retry by default (then 1.6x more
    // each time); the limit, not the delay, is what this test checks.
    const started = startTestCasd({ args: [...remoteArgs, '--cas-retry-delay=10'] });
    // casd asks a remote given on its command line for its capabilities at start, and exits
    // when that fails; its log says how many retries it made.
    await expect(started).rejects.toThrow(`Retry limit (${REMOTE_RETRY_LIMIT}) exceeded`);
  });
});
