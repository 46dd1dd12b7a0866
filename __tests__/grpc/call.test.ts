import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CasError, type CasErrorReason } from '../../src/errors.js';
import {
  CapabilitiesService,
  type CapabilitiesServer,
  ServerCapabilities,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { grpcToCasError, isGrpcError, unary } from '../../src/grpc/call.js';
import { Connection } from '../../src/grpc/connection.js';
import { service, startGrpcServer, type TestGrpcServer } from '../helpers/grpc-server.js';

/**
 * The instance name tells this stand-in what to do: `ok`, `hang` (never answer), or the name
 * of a status code to fail with.
 */
const scripted: CapabilitiesServer = {
  getCapabilities(call, callback) {
    const wanted = call.request.instanceName;
    if (wanted === 'hang') return;
    if (wanted === 'ok')
      return callback(null, ServerCapabilities.fromPartial({ highApiVersion: { major: 2 } }));
    const code = status[wanted as keyof typeof status];
    callback({ code, details: `scripted ${wanted}` }, null);
  },
};

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => err,
  );
}

describe('unary', () => {
  let server: TestGrpcServer;
  let connection: Connection;
  const call = (instanceName: string, settings?: Parameters<typeof unary>[2]) =>
    unary(connection.capabilities.getCapabilities.bind(connection.capabilities), { instanceName }, settings);

  beforeAll(async () => {
    server = await startGrpcServer({ services: [service(CapabilitiesService, scripted)], address: 'unix' });
    connection = new Connection(server.url);
  });
  afterAll(async () => {
    connection?.close();
    await server?.stop();
  });

  it('resolves with the response', async () => {
    expect((await call('ok')).highApiVersion?.major).toBe(2);
  });

  it('rejects with the gRPC error the server sent', async () => {
    const err = await failure(call('NOT_FOUND'));
    expect(isGrpcError(err, status.NOT_FOUND)).toBe(true);
    expect((err as { details: string }).details).toBe('scripted NOT_FOUND');
  });

  it('gives up at the deadline with DEADLINE_EXCEEDED, which maps to reason timeout', async () => {
    const err = await failure(call('hang', { timeoutMs: 50 }));
    expect(isGrpcError(err, status.DEADLINE_EXCEEDED)).toBe(true);
    expect(grpcToCasError(err, 'GetCapabilities').reason).toBe('timeout');
  });

  it('cancels the call when the signal aborts', async () => {
    const controller = new AbortController();
    const pending = call('hang', { signal: controller.signal });
    controller.abort();
    expect(isGrpcError(await failure(pending), status.CANCELLED)).toBe(true);
  });

  it('cancels at once when the signal has already aborted', async () => {
    const err = await failure(call('ok', { signal: AbortSignal.abort() }));
    expect(isGrpcError(err, status.CANCELLED)).toBe(true);
  });

  it('a signal that never aborts does not disturb the call', async () => {
    const controller = new AbortController();
    expect((await call('ok', { signal: controller.signal })).highApiVersion?.major).toBe(2);
  });

  it.each<[keyof typeof status, CasErrorReason]>([
    ['UNAVAILABLE', 'remote-unavailable'],
    ['RESOURCE_EXHAUSTED', 'cache-too-full'],
    ['NOT_FOUND', 'blob-not-found'],
    ['INVALID_ARGUMENT', 'invalid-input'],
    ['DATA_LOSS', 'corrupt-data'],
    ['UNIMPLEMENTED', 'remote-error'],
    ['INTERNAL', 'remote-error'],
    ['PERMISSION_DENIED', 'remote-error'],
  ])('maps %s from the wire to reason %s, keeping code, cause and message', async (code, reason) => {
    const err = await failure(call(code));
    const casError = grpcToCasError(err, 'asking the remote', '/tmp/casd.log');
    expect(casError).toBeInstanceOf(CasError);
    expect(casError.reason).toBe(reason);
    expect(casError.grpcCode).toBe(status[code]);
    expect(casError.cause).toBe(err);
    expect(casError.logPath).toBe('/tmp/casd.log');
    expect(casError.message.startsWith(`asking the remote failed: ${code}: scripted ${code}`)).toBe(true);
  });
});

describe('errors without a server', () => {
  it('an endpoint where nothing listens fails as remote-unavailable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'casd-nobody-'));
    const connection = new Connection(`unix:${join(dir, 'nobody.sock')}`);
    try {
      const err = await failure(
        unary(connection.capabilities.getCapabilities.bind(connection.capabilities), { instanceName: '' }),
      );
      const casError = grpcToCasError(err, 'GetCapabilities');
      expect(casError.reason).toBe('remote-unavailable');
      expect(casError.message).toMatch(/^GetCapabilities failed: UNAVAILABLE: /);
    } finally {
      connection.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('isGrpcError tells gRPC errors from others', () => {
    const grpcError = Object.assign(new Error('14 UNAVAILABLE: x'), {
      code: status.UNAVAILABLE,
      details: 'x',
    });
    expect(isGrpcError(grpcError)).toBe(true);
    expect(isGrpcError(grpcError, status.UNAVAILABLE, status.INTERNAL)).toBe(true);
    expect(isGrpcError(grpcError, status.NOT_FOUND)).toBe(false);
    expect(isGrpcError(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe(false);
    expect(isGrpcError(new CasError('io', 'x'))).toBe(false);
    expect(isGrpcError(null)).toBe(false);
    expect(isGrpcError('UNAVAILABLE')).toBe(false);
  });

  it('grpcToCasError passes a CasError through unchanged', () => {
    const original = new CasError('cache-too-full', 'full');
    expect(grpcToCasError(original, 'anything')).toBe(original);
  });

  it('grpcToCasError wraps any other failure as io, saying what was being done', () => {
    const cause = new Error('socket hang up');
    const casError = grpcToCasError(cause, 'uploading blobs', '/tmp/casd.log');
    expect(casError.reason).toBe('io');
    expect(casError.message).toBe('uploading blobs failed: socket hang up');
    expect(casError.cause).toBe(cause);
    expect(casError.logPath).toBe('/tmp/casd.log');
    expect(grpcToCasError('odd', 'x').message).toBe('x failed: odd');
  });
});
