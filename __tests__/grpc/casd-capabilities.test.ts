import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '../../src/grpc/call.js';
import { DigestFunction_Value } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { startTestCasd, type TestCasd } from '../helpers/casd.js';

describe('real buildbox-casd', () => {
  let casd: TestCasd;
  beforeAll(async () => {
    casd = await startTestCasd();
  });
  afterAll(async () => {
    await casd?.stop();
  });

  it('answers GetCapabilities over its unix socket through the generated client', async () => {
    const connection = casd.connect();
    try {
      const caps = await unary(connection.capabilities.getCapabilities.bind(connection.capabilities), {
        instanceName: '',
      });
      expect(caps.cacheCapabilities?.digestFunctions).toContain(DigestFunction_Value.SHA256);
      expect(caps.highApiVersion?.major).toBe(2);
      expect(caps.lowApiVersion?.minor).toBeGreaterThanOrEqual(1);
    } finally {
      connection.close();
    }
  });
});
