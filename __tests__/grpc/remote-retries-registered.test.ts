import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Remote } from '../../src/cas/remote/remote.js';
import type { Connection } from '../../src/grpc/connection.js';
import { REMOTE_RETRY_LIMIT } from '../../src/grpc/options.js';
import { freePort, startTestCasd, type TestCasd } from '../helpers/casd.js';

describe('retries of a remote registered with a running casd', () => {
  let casd: TestCasd;
  let local: Connection;
  beforeAll(async () => {
    casd = await startTestCasd();
    local = casd.connect();
  });
  afterAll(async () => {
    local.close();
    await casd.stop();
  });

  it('gives up on a dead remote after the same REMOTE_RETRY_LIMIT retries as the flags path', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    await expect(Remote.register(local, { url })).rejects.toThrow();
    expect(casd.log()).toContain(`Retry limit (${REMOTE_RETRY_LIMIT}) exceeded`);
  });
});
