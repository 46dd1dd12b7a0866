import { readFileSync, statSync } from 'node:fs';
import {
  Channel,
  type ChannelCredentials,
  type ChannelOptions,
  type Interceptor,
  InterceptingCall,
  credentials,
} from '@grpc/grpc-js';
import { FetchClient, PushClient } from '../gen/build/bazel/remote/asset/v1/remote_asset.js';
import {
  ActionCacheClient,
  CapabilitiesClient,
  type ContentAddressableStorageClient,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { LocalContentAddressableStorageClient } from '../gen/build/buildgrid/local_cas.js';
import type { ByteStreamClient } from '../gen/google/bytestream/bytestream.js';
import { BulkByteStreamClient, BulkCasClient } from './bulk-clients.js';
import { CasError } from '../errors.js';
import { type Endpoint, parseEndpoint } from './endpoint.js';
import { TOKEN_FILE_RACY_MS } from './options.js';

/** TLS material and credentials for one endpoint. PEM contents, not paths. */
export interface ConnectionOptions {
  serverCert?: Buffer;
  clientCert?: Buffer;
  clientKey?: Buffer;
  /**
   * File holding the bearer token, sent as `authorization` metadata; re-read when it changes
   * (tokens get rotated). A token has no other form in the library.
   */
  tokenFile?: string;
  /** Extra grpc-js channel options, merged over the defaults. */
  channelOptions?: ChannelOptions;
}

/** Large enough for any batch a server advertises; ByteStream carries bigger blobs. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const DEFAULT_CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // gRPC C++ servers (casd among them) answer pings more often than every 5 minutes during
  // a quiet call with GOAWAY too_many_pings, so stay at their minimum.
  'grpc.keepalive_time_ms': 300_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.enable_retries': 1,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 5_000,
};

function channelCredentials(endpoint: Endpoint, options: ConnectionOptions): ChannelCredentials {
  if (!endpoint.secure) {
    if (options.serverCert || options.clientCert || options.clientKey) {
      throw new CasError(
        'invalid-input',
        `TLS certificates were given but endpoint "${endpoint.text}" is not TLS; use grpcs:// or https://`,
      );
    }
    return credentials.createInsecure();
  }
  if (Boolean(options.clientCert) !== Boolean(options.clientKey)) {
    throw new CasError('invalid-input', 'client-cert and client-key must be given together for mutual TLS');
  }
  return credentials.createSsl(
    options.serverCert ?? null,
    options.clientKey ?? null,
    options.clientCert ?? null,
  );
}

/**
 * Returns a function giving the current token; a token file is re-read when it changes
 * (inode, size, mtime or ctime) so that a rotated token is sent on the next call.
 */
function tokenSource(options: ConnectionOptions): (() => string) | undefined {
  const file = options.tokenFile;
  if (!file) return undefined;
  let cached = '';
  let cachedStamp = '';
  let racy = true;
  return () => {
    try {
      const stat = statSync(file);
      const stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
      // Why `racy`: file times come from the kernel's coarse clock (a few ms), so a rewrite
      // right after our read can keep the same stamp. As git does with its index, a file read
      // while its mtime was that fresh is read again on the next call.
      if (racy || stamp !== cachedStamp) {
        cached = readFileSync(file, 'utf8').trim();
        cachedStamp = stamp;
        racy = Date.now() - stat.mtimeMs < TOKEN_FILE_RACY_MS;
      }
    } catch (err) {
      throw new CasError('invalid-input', `cannot read token file ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return cached;
  };
}

// An interceptor, not call credentials: grpc-js refuses call credentials on plaintext
// channels, and many in-cluster caches take a bearer token over plain gRPC.
function bearerInterceptor(getToken: () => string): Interceptor {
  return (callOptions, nextCall) =>
    new InterceptingCall(nextCall(callOptions), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${getToken()}`);
        next(metadata, listener);
      },
    });
}

/**
 * One channel to one endpoint, with a typed client per service sharing it. Owns the channel:
 * call `close()` when done.
 */
export class Connection {
  readonly endpoint: Endpoint;
  readonly channel: Channel;
  readonly capabilities: CapabilitiesClient;
  readonly cas: ContentAddressableStorageClient;
  readonly byteStream: ByteStreamClient;
  readonly actionCache: ActionCacheClient;
  readonly fetch: FetchClient;
  readonly push: PushClient;
  readonly localCas: LocalContentAddressableStorageClient;

  constructor(endpoint: Endpoint | string, options: ConnectionOptions = {}) {
    this.endpoint = typeof endpoint === 'string' ? parseEndpoint(endpoint) : endpoint;
    const creds = channelCredentials(this.endpoint, options);
    const channelOptions = { ...DEFAULT_CHANNEL_OPTIONS, ...options.channelOptions };
    this.channel = new Channel(this.endpoint.target, creds, channelOptions);
    const getToken = tokenSource(options);
    const clientOptions = {
      channelOverride: this.channel,
      interceptors: getToken ? [bearerInterceptor(getToken)] : [],
    };
    const target = this.endpoint.target;
    this.capabilities = new CapabilitiesClient(target, creds, clientOptions);
    this.cas = new BulkCasClient(target, creds, clientOptions);
    this.byteStream = new BulkByteStreamClient(target, creds, clientOptions);
    this.actionCache = new ActionCacheClient(target, creds, clientOptions);
    this.fetch = new FetchClient(target, creds, clientOptions);
    this.push = new PushClient(target, creds, clientOptions);
    this.localCas = new LocalContentAddressableStorageClient(target, creds, clientOptions);
  }

  close(): void {
    for (const client of [
      this.capabilities,
      this.cas,
      this.byteStream,
      this.actionCache,
      this.fetch,
      this.push,
      this.localCas,
    ]) {
      client.close();
    }
    this.channel.close();
  }
}
