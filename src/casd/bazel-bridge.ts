import http2 from 'node:http2';
import net from 'node:net';
import { lowerLowApiVersionInGrpcBody } from './api-version.js';
import { BRIDGE_CONNECTION_WINDOW_BYTES, BRIDGE_STREAM_WINDOW_BYTES } from './options.js';

// The Bazel bridge: a plaintext HTTP/2 pass-through from a loopback TCP port to casd's unix
// socket. Every gRPC call goes through byte for byte (headers, messages, trailers, resets);
// only the GetCapabilities answer is changed, to advertise REAPI 2.0 as the low end, which
// Bazel 4-7 require (see api-version.ts). One upstream connection per Bazel connection keeps
// flow control and cancellation end to end.

const CAPABILITIES_PATH = '/build.bazel.remote.execution.v2.Capabilities/GetCapabilities';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL } = http2.constants;

// Headers the HTTP/2 layer sets itself, or that HTTP/2 forbids on a forwarded stream.
const DROPPED_REQUEST_HEADERS = new Set([':scheme', ':authority', 'connection', 'keep-alive', 'host']);

export interface BazelBridgeOptions {
  /** Where to listen, e.g. 127.0.0.1 and 0 (a free port). */
  host: string;
  port: number;
  /** casd's unix socket. */
  socketPath: string;
  /** Problems the bridge meets (a peer that reset, casd gone); never thrown. */
  onProblem?: (message: string) => void;
}

export interface BazelBridge {
  /** `grpc://HOST:PORT`, the address Bazel's `--remote_cache` takes. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

function forwardedHeaders(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED_REQUEST_HEADERS.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function responseHeaders(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'connection' || name === 'keep-alive') continue;
    out[name] = value;
  }
  return out;
}

/** Answers a call that cannot reach casd the way gRPC does: trailers-only UNAVAILABLE. */
function unavailable(stream: http2.ServerHttp2Stream, why: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': '14',
      'grpc-message': encodeURIComponent(`casd-action bazel bridge: ${why}`),
    },
    { endStream: true },
  );
}

function forwardStream(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  upstream: http2.ClientHttp2Session,
  onProblem: (message: string) => void,
): void {
  if (upstream.destroyed || upstream.closed) {
    unavailable(stream, 'the cache daemon is gone');
    return;
  }
  const rewrite = headers[':path'] === CAPABILITIES_PATH;
  let call: http2.ClientHttp2Stream;
  try {
    call = upstream.request(forwardedHeaders(headers), { endStream: false });
  } catch (err) {
    unavailable(stream, (err as Error).message);
    return;
  }
  let trailers: http2.IncomingHttpHeaders | undefined;
  call.on('response', (head, flags) => {
    if (stream.destroyed || stream.closed) return;
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only (how gRPC sends most errors): one HEADERS frame that ends the stream.
      stream.respond(responseHeaders(head), { endStream: true });
      return;
    }
    stream.respond(responseHeaders(head), { waitForTrailers: true });
    if (rewrite) {
      const chunks: Buffer[] = [];
      call.on('data', (chunk: Buffer) => chunks.push(chunk));
      call.on('end', () => stream.end(lowerLowApiVersionInGrpcBody(Buffer.concat(chunks))));
    } else {
      call.pipe(stream);
    }
  });
  call.on('trailers', (t) => {
    trailers = t;
  });
  stream.on('wantTrailers', () => {
    if (trailers) stream.sendTrailers(responseHeaders(trailers));
    else stream.close();
  });
  stream.pipe(call);
  // Cancellation and failures travel both ways as stream resets.
  stream.on('close', () => {
    if (!call.closed) call.close(stream.rstCode || NGHTTP2_CANCEL);
  });
  call.on('close', () => {
    if (stream.closed || stream.destroyed) return;
    if (!stream.headersSent) unavailable(stream, `casd reset the call (code ${call.rstCode})`);
    else if (call.rstCode) stream.close(call.rstCode);
  });
  call.on('error', (err) => onProblem(`call ${headers[':path']}: ${err.message}`));
  stream.on('error', (err) => onProblem(`client stream ${headers[':path']}: ${err.message}`));
}

/**
 * Starts the bridge on `host:port` in front of casd's socket. Resolves once it listens.
 * Throws when the address cannot be bound.
 */
export async function startBazelBridge(options: BazelBridgeOptions): Promise<BazelBridge> {
  const onProblem = options.onProblem ?? (() => undefined);
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer({ settings: { initialWindowSize: BRIDGE_STREAM_WINDOW_BYTES } });
  server.on('session', (session) => {
    sessions.add(session);
    session.on('connect', () => session.setLocalWindowSize(BRIDGE_CONNECTION_WINDOW_BYTES));
    const upstream = http2.connect('http://localhost', {
      createConnection: () => net.connect(options.socketPath),
      settings: { initialWindowSize: BRIDGE_STREAM_WINDOW_BYTES },
    });
    upstream.on('connect', () => upstream.setLocalWindowSize(BRIDGE_CONNECTION_WINDOW_BYTES));
    upstream.on('error', (err) => onProblem(`casd connection: ${err.message}`));
    session.on('error', (err) => onProblem(`client connection: ${err.message}`));
    // Why both ways: a client gone leaves nothing to serve; casd gone leaves nothing to serve
    // with, and Bazel reconnects (getting a fresh upstream) when its connection closes.
    upstream.on('close', () => {
      if (!session.closed) session.close();
    });
    session.on('close', () => {
      sessions.delete(session);
      if (!upstream.closed) upstream.close();
    });
    session.on('stream', (stream, headers) => forwardStream(stream, headers, upstream, onProblem));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => onProblem(`listener: ${err.message}`));
  const port = (server.address() as net.AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `grpc://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}
