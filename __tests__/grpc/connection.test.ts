import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Metadata, ServerCredentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCasError } from '../../src/errors.js';
import {
  CapabilitiesService,
  type CapabilitiesServer,
  DigestFunction_Value,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { ByteStreamService, type ByteStreamServer } from '../../src/gen/google/bytestream/bytestream.js';
import { grpcToCasError, unary } from '../../src/grpc/call.js';
import { Connection, type ConnectionOptions } from '../../src/grpc/connection.js';
import { service, startGrpcServer, type TestGrpcServer } from '../helpers/grpc-server.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls.js';

/** A stand-in remote: Capabilities and ByteStream.Read, optionally demanding a bearer token. */
function remoteServices(expectedToken?: string) {
  const seen: string[] = [];
  const authorized = (metadata: Metadata): boolean => {
    const header = metadata.get('authorization').map(String);
    seen.push(header.join(','));
    return expectedToken === undefined || (header.length === 1 && header[0] === `Bearer ${expectedToken}`);
  };
  const unauthenticated = { code: status.UNAUTHENTICATED, details: 'missing or wrong bearer token' };
  const capabilities: CapabilitiesServer = {
    getCapabilities(call, callback) {
      if (!authorized(call.metadata)) return callback(unauthenticated, null);
      callback(null, {
        cacheCapabilities: {
          digestFunctions: [DigestFunction_Value.SHA256],
          actionCacheUpdateCapabilities: undefined,
          cachePriorityCapabilities: undefined,
          maxBatchTotalSizeBytes: 1024 * 1024,
          symlinkAbsolutePathStrategy: 0,
          supportedCompressors: [],
          supportedBatchUpdateCompressors: [],
        },
        executionCapabilities: undefined,
        deprecatedApiVersion: undefined,
        lowApiVersion: { major: 2, minor: 0, patch: 0, prerelease: '' },
        // The instance name comes back in `prerelease`, to prove the request arrived intact.
        highApiVersion: { major: 2, minor: 3, patch: 0, prerelease: call.request.instanceName },
      });
    },
  };
  const byteStream: ByteStreamServer = {
    read(call) {
      if (!authorized(call.metadata)) return call.destroy(Object.assign(new Error(), unauthenticated));
      call.write({ data: Buffer.from('hello ') });
      call.write({ data: Buffer.from(call.request.resourceName) });
      call.end();
    },
    write(_call, callback) {
      callback({ code: status.UNIMPLEMENTED }, null);
    },
    queryWriteStatus(_call, callback) {
      callback({ code: status.UNIMPLEMENTED }, null);
    },
  };
  return {
    seen,
    services: [service(CapabilitiesService, capabilities), service(ByteStreamService, byteStream)],
  };
}

async function capabilities(connection: Connection, instanceName = 'main') {
  return unary(connection.capabilities.getCapabilities.bind(connection.capabilities), { instanceName });
}

/** Calls GetCapabilities through a fresh connection and closes it. */
async function callWith(url: string, options: ConnectionOptions = {}) {
  const connection = new Connection(url, options);
  try {
    return await capabilities(connection);
  } finally {
    connection.close();
  }
}

async function readAll(connection: Connection, resourceName: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const response of connection.byteStream.read({ resourceName, readOffset: 0, readLimit: 0 })) {
    parts.push((response as { data: Buffer }).data);
  }
  return Buffer.concat(parts).toString();
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => err,
  );
}

describe('Connection over plaintext transports', () => {
  it('reaches a server on a unix socket', async () => {
    const server = await startGrpcServer({ services: remoteServices().services, address: 'unix' });
    try {
      expect(server.url).toMatch(/^unix:\//);
      const caps = await callWith(server.url);
      expect(caps.highApiVersion?.prerelease).toBe('main');
      expect(caps.cacheCapabilities?.maxBatchTotalSizeBytes).toBe(1024 * 1024);
    } finally {
      await server.stop();
    }
  });

  it('reaches a server over TCP with grpc://', async () => {
    const server = await startGrpcServer({ services: remoteServices().services });
    try {
      expect(server.url).toBe(`grpc://127.0.0.1:${server.port}`);
      expect((await callWith(server.url)).highApiVersion?.minor).toBe(3);
    } finally {
      await server.stop();
    }
  });

  it('carries a server-streaming call on the same channel', async () => {
    const server = await startGrpcServer({ services: remoteServices().services, address: 'unix' });
    const connection = new Connection(server.url);
    try {
      expect(await readAll(connection, 'blobs/abc/3')).toBe('hello blobs/abc/3');
      expect((await capabilities(connection)).highApiVersion?.major).toBe(2);
    } finally {
      connection.close();
      await server.stop();
    }
  });

  it('refuses TLS certificates for a plaintext endpoint, naming it', () => {
    for (const option of ['serverCert', 'clientCert', 'clientKey'] as const) {
      let caught: unknown;
      try {
        new Connection('grpc://127.0.0.1:1', { [option]: Buffer.from('pem') });
      } catch (err) {
        caught = err;
      }
      expect(isCasError(caught, 'invalid-input')).toBe(true);
      expect((caught as Error).message).toBe(
        'TLS certificates were given but endpoint "grpc://127.0.0.1:1" is not TLS; use grpcs:// or https://',
      );
    }
  });
});

describe('Connection over TLS', () => {
  let certs: TestCertificates;
  let otherCa: TestCertificates;
  let tlsServer: TestGrpcServer;
  let mtlsServer: TestGrpcServer;
  beforeAll(async () => {
    certs = makeTestCertificates();
    otherCa = makeTestCertificates();
    const keyPair = [{ private_key: certs.serverKey, cert_chain: certs.serverCert }];
    tlsServer = await startGrpcServer({
      services: remoteServices().services,
      credentials: ServerCredentials.createSsl(null, keyPair, false),
    });
    mtlsServer = await startGrpcServer({
      services: remoteServices().services,
      credentials: ServerCredentials.createSsl(certs.caCert, keyPair, true),
    });
  });
  afterAll(async () => {
    await tlsServer?.stop();
    await mtlsServer?.stop();
    certs?.remove();
    otherCa?.remove();
  });

  it('verifies the server against the given CA, by IP address', async () => {
    expect(tlsServer.url).toBe(`grpcs://127.0.0.1:${tlsServer.port}`);
    const caps = await callWith(tlsServer.url, { serverCert: certs.caCert });
    expect(caps.highApiVersion?.prerelease).toBe('main');
  });

  it('verifies the server against the given CA, by host name (https:// alias)', async () => {
    const caps = await callWith(`https://localhost:${tlsServer.port}`, { serverCert: certs.caCert });
    expect(caps.highApiVersion?.prerelease).toBe('main');
  });

  it('fails as remote-unavailable when the server certificate is not from the trusted CA', async () => {
    const err = await failure(callWith(tlsServer.url, { serverCert: otherCa.caCert }));
    const casError = grpcToCasError(err, 'GetCapabilities');
    expect(casError.reason).toBe('remote-unavailable');
    expect(casError.grpcCode).toBe(status.UNAVAILABLE);
  });

  it('presents a client certificate for mutual TLS', async () => {
    const caps = await callWith(mtlsServer.url, {
      serverCert: certs.caCert,
      clientCert: certs.clientCert,
      clientKey: certs.clientKey,
    });
    expect(caps.highApiVersion?.prerelease).toBe('main');
  });

  it('is refused by a mutual-TLS server when it has no client certificate', async () => {
    const err = await failure(callWith(mtlsServer.url, { serverCert: certs.caCert }));
    expect(grpcToCasError(err, 'GetCapabilities').reason).toBe('remote-unavailable');
  });

  it('rejects a client certificate without its key, and a key without its certificate', () => {
    for (const options of [{ clientCert: certs.clientCert }, { clientKey: certs.clientKey }]) {
      let caught: unknown;
      try {
        new Connection(mtlsServer.url, { serverCert: certs.caCert, ...options });
      } catch (err) {
        caught = err;
      }
      expect(isCasError(caught, 'invalid-input')).toBe(true);
      expect((caught as Error).message).toBe(
        'client-cert and client-key must be given together for mutual TLS',
      );
    }
  });
});

describe('Connection with a bearer token', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'casd-token-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let written = 0;
  /** A token file holding `token` (the one form a token takes in the library). */
  const tokenFileWith = (token: string): string => {
    const file = join(dir, `token-${(written += 1)}`);
    writeFileSync(file, token, { mode: 0o600 });
    return file;
  };

  it('sends the token of a token file, trimmed', async () => {
    const remote = remoteServices('s3cret');
    const server = await startGrpcServer({ services: remote.services, address: 'unix' });
    try {
      await callWith(server.url, { tokenFile: tokenFileWith(' s3cret\n') });
      expect(remote.seen).toEqual(['Bearer s3cret']);
    } finally {
      await server.stop();
    }
  });

  it('sends the token on streaming calls too', async () => {
    const remote = remoteServices('s3cret');
    const server = await startGrpcServer({ services: remote.services, address: 'unix' });
    const connection = new Connection(server.url, { tokenFile: tokenFileWith('s3cret') });
    try {
      expect(await readAll(connection, 'blobs/x/1')).toBe('hello blobs/x/1');
      expect(remote.seen).toEqual(['Bearer s3cret']);
    } finally {
      connection.close();
      await server.stop();
    }
  });

  it('sends the current content of a token file, re-read after every rotation', async () => {
    const remote = remoteServices();
    const server = await startGrpcServer({ services: remote.services, address: 'unix' });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first\n');
    const connection = new Connection(server.url, { tokenFile });
    try {
      await capabilities(connection);
      await capabilities(connection);
      // Rewritten in place right away: same size, likely the same coarse mtime.
      writeFileSync(tokenFile, 'secnd\n');
      await capabilities(connection);
      // Replaced atomically, as secret managers do.
      writeFileSync(join(dir, 'token.new'), 'third');
      renameSync(join(dir, 'token.new'), tokenFile);
      await capabilities(connection);
      expect(remote.seen).toEqual(['Bearer first', 'Bearer first', 'Bearer secnd', 'Bearer third']);
    } finally {
      connection.close();
      await server.stop();
    }
  });

  it('sends the token over TLS', async () => {
    const certs = makeTestCertificates();
    const remote = remoteServices('tls-token');
    const server = await startGrpcServer({
      services: remote.services,
      credentials: ServerCredentials.createSsl(null, [
        { private_key: certs.serverKey, cert_chain: certs.serverCert },
      ]),
    });
    try {
      await callWith(server.url, { serverCert: certs.caCert, tokenFile: tokenFileWith('tls-token') });
      expect(remote.seen).toEqual(['Bearer tls-token']);
    } finally {
      await server.stop();
      certs.remove();
    }
  });

  it.each([
    ['a wrong token', 'guess', 'Bearer guess'],
    ['no token', undefined, ''],
  ])('gets UNAUTHENTICATED with %s, mapped to a CasError with a hint', async (_what, token, sent) => {
    const remote = remoteServices('s3cret');
    const server = await startGrpcServer({ services: remote.services, address: 'unix' });
    try {
      const options = token === undefined ? {} : { tokenFile: tokenFileWith(token) };
      const err = await failure(callWith(server.url, options));
      const casError = grpcToCasError(err, 'reading capabilities of the remote');
      expect(casError.grpcCode).toBe(status.UNAUTHENTICATED);
      expect(casError.reason).toBe('remote-error');
      expect(casError.message).toBe(
        'reading capabilities of the remote failed: UNAUTHENTICATED: missing or wrong bearer token ' +
          '(check the token, token-file and client certificate)',
      );
      expect(casError.cause).toBe(err);
      expect(remote.seen).toEqual([sent]);
    } finally {
      await server.stop();
    }
  });

  it('fails the call with a CasError naming a token file that cannot be read', async () => {
    const server = await startGrpcServer({ services: remoteServices().services, address: 'unix' });
    const tokenFile = join(dir, 'does-not-exist');
    const connection = new Connection(server.url, { tokenFile });
    try {
      const err = await failure(capabilities(connection));
      expect(isCasError(err, 'invalid-input')).toBe(true);
      expect((err as Error).message).toContain(`cannot read token file ${tokenFile}: ENOENT`);
    } finally {
      connection.close();
      await server.stop();
    }
  });
});
