import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';

/** A generated service definition (e.g. `CapabilitiesService`) and its implementation. */
export type ServiceBinding = readonly [ServiceDefinition, UntypedServiceImplementation];

/**
 * Pairs a generated definition with an implementation of the generated server interface,
 * checked against each other at compile time.
 */
export function service<I extends UntypedServiceImplementation>(
  definition: ServiceDefinition<I>,
  implementation: I,
): ServiceBinding {
  return [definition as ServiceDefinition, implementation];
}

export interface GrpcServerOptions {
  services: ServiceBinding[];
  /**
   * Where to listen: `unix:/abs/path`, `host:port` (port 0 picks a free one), or `unix` for a
   * socket in a new temp directory. Default `127.0.0.1:0`.
   */
  address?: string;
  /** Default: insecure. */
  credentials?: ServerCredentials;
}

export interface TestGrpcServer {
  /** The bound address as grpc-js takes it: `unix:/path` or `127.0.0.1:PORT`. */
  address: string;
  /** The TCP port, 0 for a unix socket. */
  port: number;
  /** An endpoint for `Connection`: `unix:/path`, `grpc://127.0.0.1:PORT` or `grpcs://...`. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts a real grpc-js server speaking the generated services: a stand-in remote for tests
 * that need behaviour casd does not have (auth, TLS, failures).
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<TestGrpcServer> {
  const credentials = options.credentials ?? ServerCredentials.createInsecure();
  let address = options.address ?? '127.0.0.1:0';
  let socketDir: string | undefined;
  if (address === 'unix') {
    socketDir = mkdtempSync(join(tmpdir(), 'grpc-t-'));
    address = `unix:${join(socketDir, 'server.sock')}`;
  }
  const server = new Server();
  for (const [definition, implementation] of options.services) server.addService(definition, implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  const unix = address.startsWith('unix:');
  const bound = unix ? address : address.replace(/:0$/, `:${port}`);
  const secure = credentials._isSecure();
  return {
    address: bound,
    port: unix ? 0 : port,
    url: unix ? bound : `${secure ? 'grpcs' : 'grpc'}://${bound}`,
    stop: async () => {
      // forceShutdown: tests leave calls hanging on purpose (deadlines, cancellation).
      server.forceShutdown();
      if (socketDir) rmSync(socketDir, { recursive: true, force: true });
    },
  };
}
