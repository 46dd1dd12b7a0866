// Remotes that misbehave at the TCP level, for fault tests:
//
//   const silent = await startSilentServer();      // accepts connections, never says a word
//   const proxy = await startStallableProxy(remote.port!);
//   proxy.stall();                                  // from now on, no byte goes either way
//
// Both pass real bytes (or none): whatever speaks to them speaks real HTTP/2 and gRPC, and the
// stalled proxy looks to a client exactly like a remote that hangs mid-conversation.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpFault {
  /** `grpc://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** A TCP server that accepts every connection and never reads or writes a byte. */
export async function startSilentServer(): Promise<TcpFault> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.pause();
  });
  const port = await listen(server);
  return {
    url: `grpc://127.0.0.1:${port}`,
    port,
    connections: () => accepted,
    stop: closer(server, sockets),
  };
}

export interface StallableProxy extends TcpFault {
  /** Stops forwarding: open connections go silent, new ones are accepted and ignored. */
  stall(): void;
  /** Forwards again (new connections only; stalled ones stay silent). */
  resume(): void;
  /** New connections go to this backend port from now on (a remote restarted elsewhere). */
  setBackend(port: number): void;
  /** Calls `action` once, as soon as `bytes` more bytes went from clients to the backend. */
  afterUpstreamBytes(bytes: number, action: () => void): void;
}

/** A TCP proxy to `127.0.0.1:backendPort` that can be made to stall at any moment. */
export async function startStallableProxy(backendPort: number): Promise<StallableProxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let stalled = false;
  let backend = backendPort;
  let trigger: { remaining: number; action: () => void } | undefined;
  const counted = (bytes: number): void => {
    if (!trigger) return;
    trigger.remaining -= bytes;
    if (trigger.remaining > 0) return;
    const { action } = trigger;
    trigger = undefined;
    action();
  };
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    accepted++;
    track(client);
    if (stalled) return void client.pause();
    const upstream = createConnection({ host: '127.0.0.1', port: backend });
    track(upstream);
    // Why not pipe(): a stall must drop bytes already in flight, not buffer them for later.
    client.on('data', (chunk) => {
      if (stalled) return;
      upstream.write(chunk);
      counted(chunk.byteLength);
    });
    upstream.on('data', (chunk) => {
      if (!stalled) client.write(chunk);
    });
    client.on('close', () => !stalled && upstream.destroy());
    upstream.on('close', () => !stalled && client.destroy());
  });
  const port = await listen(server);
  return {
    url: `grpc://127.0.0.1:${port}`,
    port,
    connections: () => accepted,
    stall: () => void (stalled = true),
    resume: () => void (stalled = false),
    setBackend: (port) => void (backend = port),
    afterUpstreamBytes: (bytes, action) => void (trigger = { remaining: bytes, action }),
    stop: closer(server, sockets),
  };
}
