import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite } from './azurite.js';
import { type EmulatorContext, sendJson } from './http.js';
import { type CacheEntry, EmulatorStats, EntryStore, Faults } from './model.js';
import { V1_MARKER, handleV1 } from './rest-v1.js';
import { TWIRP_PREFIX, handleTwirp } from './twirp.js';

export type { CacheEntry, KeyStats, Operation } from './model.js';
export { EmulatorStats, Faults } from './model.js';

export interface ActionsCacheEmulatorOptions {
  /** Which protocol `env` selects; both are always served. Default v2. */
  protocol?: 'v1' | 'v2';
}

export interface ActionsCacheEmulator {
  /** Environment that points @actions/cache at this emulator with the chosen protocol. */
  env: Record<string, string>;
  /** The same for each protocol explicitly. */
  envV2: Record<string, string>;
  envV1: Record<string, string>;
  stats: EmulatorStats;
  faults: Faults;
  /** A snapshot of every entry, finalized or not. */
  entries(): CacheEntry[];
  /** Removes the entries with this key, as GitHub's eviction would. */
  evict(key: string): number;
  baseUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts an emulator of the GitHub Actions cache service on 127.0.0.1 (random port) with an
 * Azurite blob store behind it. It speaks cache service v2 (twirp JSON, signed Azure URLs)
 * and the v1 REST protocol of GHES, so @actions/cache 6 saves and restores for real.
 * Tests apply `env` to process.env (see `useEnv`) before calling the library.
 */
export async function startActionsCacheEmulator(
  options: ActionsCacheEmulatorOptions = {},
): Promise<ActionsCacheEmulator> {
  const azurite = await startAzurite();
  const runnerTemp = mkdtempSync(join(tmpdir(), 'actions-cache-tmp-'));
  const ctx: EmulatorContext = {
    store: new EntryStore(),
    stats: new EmulatorStats(),
    faults: new Faults(),
    azurite,
    baseUrl: '',
    token: randomBytes(12).toString('hex'),
    v1Uploads: new Map(),
  };

  const server = createServer((req, res) => {
    route(ctx, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { code: 'internal', msg: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ctx.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const common = {
    ACTIONS_RUNTIME_TOKEN: ctx.token,
    ACTIONS_RESULTS_URL: `${ctx.baseUrl}/`,
    ACTIONS_CACHE_URL: `${ctx.baseUrl}/v1/`,
    ACTIONS_CACHE_MODE: '',
    RUNNER_TEMP: runnerTemp,
  };
  // The library picks v1 whenever GITHUB_SERVER_URL is not github.com, *.ghe.com or
  // *.localhost (it assumes GHES), whatever ACTIONS_CACHE_SERVICE_V2 says.
  const envV2 = { ...common, ACTIONS_CACHE_SERVICE_V2: 'true', GITHUB_SERVER_URL: 'https://github.com' };
  const envV1 = { ...common, ACTIONS_CACHE_SERVICE_V2: '', GITHUB_SERVER_URL: 'https://ghes.example.test' };

  return {
    env: options.protocol === 'v1' ? envV1 : envV2,
    envV2,
    envV1,
    stats: ctx.stats,
    faults: ctx.faults,
    entries: () => ctx.store.all(),
    evict: (key) => ctx.store.evict(key),
    baseUrl: ctx.baseUrl,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await azurite.stop();
      rmSync(runnerTemp, { recursive: true, force: true });
    },
  };
}

/**
 * Sets the given variables in process.env (an empty value unsets one) and returns a function
 * that puts back what was there. @actions/cache reads the environment at call time.
 */
export function useEnv(env: Record<string, string>): () => void {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(env)) {
    saved.set(name, process.env[name]);
    if (value === '') delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

async function route(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', ctx.baseUrl);
  if (url.pathname.startsWith(TWIRP_PREFIX)) {
    await handleTwirp(ctx, req, res, url.pathname.slice(TWIRP_PREFIX.length));
  } else if (url.pathname.includes(V1_MARKER)) {
    await handleV1(ctx, req, res, url);
  } else if (url.pathname.startsWith('/_download/')) {
    await serveDownload(ctx, req, res, Number(url.pathname.slice('/_download/'.length)));
  } else {
    sendJson(res, 404, { msg: `no route for ${req.method} ${url.pathname}` });
  }
}

/** Streams a finalized entry's archive out of Azurite, counting the bytes sent. */
async function serveDownload(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, id: number) {
  ctx.stats.count('download');
  const fault = ctx.faults.take('download');
  if (fault?.kind === 'intercept' || fault?.kind === 'hold') await fault.hook();
  if (fault?.kind === 'reset' || fault?.kind === 'intercept') {
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'status') {
    sendJson(res, fault.status, { msg: `injected fault ${fault.status}` });
    return;
  }
  const entry = ctx.store.byId(id);
  if (!entry?.finalized) {
    sendJson(res, 404, { msg: `no cache entry ${id}` });
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': entry.sizeBytes });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const download = await ctx.azurite.container.getBlobClient(entry.blobName).download();
  let sent = 0;
  for await (const chunk of download.readableStreamBody ?? []) {
    const data = chunk as Buffer;
    sent += data.length;
    if (!res.write(data)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
  ctx.stats.recordDownload(entry.key, sent);
}
