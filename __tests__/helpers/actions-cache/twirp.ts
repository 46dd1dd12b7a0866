import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EmulatorContext, authorized, readJsonObject, sendJson, stringField } from './http.js';
import { type Operation, WRITE_DENIED_MESSAGE } from './model.js';

export const TWIRP_PREFIX = '/twirp/github.actions.results.api.v1.CacheService/';

/** Twirp error codes we answer with, and the HTTP status the twirp spec maps each to. */
const TWIRP_STATUS = {
  invalid_argument: 400,
  unauthenticated: 401,
  not_found: 404,
  already_exists: 409,
  resource_exhausted: 429,
  internal: 500,
  unimplemented: 501,
} as const;
type TwirpCode = keyof typeof TWIRP_STATUS;

function twirpError(
  res: ServerResponse,
  code: TwirpCode,
  msg: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, TWIRP_STATUS[code], { code, msg }, headers);
}

/** Twirp code for a bare HTTP status injected as a fault. */
function codeForStatus(status: number): TwirpCode {
  if (status === 429) return 'resource_exhausted';
  if (status === 409) return 'already_exists';
  if (status === 404) return 'not_found';
  if (status === 401) return 'unauthenticated';
  if (status >= 500) return 'internal';
  return 'invalid_argument';
}

const METHODS: readonly Operation[] = [
  'CreateCacheEntry',
  'FinalizeCacheEntryUpload',
  'GetCacheEntryDownloadURL',
];

/**
 * Serves cache service v2 (twirp, JSON): the three methods @actions/cache 6 calls. Fields are
 * snake_case because the library serialises with `useProtoFieldName`; int64 values arrive
 * as strings (protobuf JSON) and are answered as strings.
 */
export async function handleTwirp(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
) {
  const operation = METHODS.find((m) => m === method);
  if (!operation || req.method !== 'POST') {
    twirpError(res, 'unimplemented', `unknown method ${req.method} ${method}`);
    return;
  }
  ctx.stats.count(operation);
  const fault = ctx.faults.take(operation);
  if (fault?.kind === 'intercept' || fault?.kind === 'hold') await fault.hook();
  if (fault?.kind === 'reset' || fault?.kind === 'intercept') {
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'status') {
    twirpError(res, codeForStatus(fault.status), `injected fault ${fault.status}`, { 'Retry-After': '1' });
    return;
  }
  if (!authorized(req, ctx.token)) {
    twirpError(res, 'unauthenticated', 'missing or wrong bearer token');
    return;
  }
  const body = await readJsonObject(req);
  if (!body) {
    twirpError(res, 'invalid_argument', 'body is not a JSON object');
    return;
  }
  const key = stringField(body, 'key') ?? '';
  const version = stringField(body, 'version') ?? '';
  if (!key || !version) {
    twirpError(res, 'invalid_argument', `key and version are required, got key=${key} version=${version}`);
    return;
  }

  if (operation === 'CreateCacheEntry') {
    if (fault?.kind === 'write-denied') {
      sendJson(res, 200, { ok: false, signed_upload_url: '', message: WRITE_DENIED_MESSAGE });
      return;
    }
    if (fault?.kind === 'conflict' || ctx.store.exists(key, version)) {
      twirpError(
        res,
        'already_exists',
        `cache entry with the same key, version, and scope already exists: ${key}`,
      );
      return;
    }
    const entry = ctx.store.create(key, version, 'v2');
    sendJson(res, 200, { ok: true, signed_upload_url: ctx.azurite.sasUrl(entry.blobName, 'cw') });
    return;
  }

  if (operation === 'FinalizeCacheEntryUpload') {
    const entry = ctx.store.pending(key, version);
    if (!entry) {
      twirpError(res, 'not_found', `no cache entry is being uploaded for key ${key}`);
      return;
    }
    const declared = Number(body.size_bytes ?? 0);
    const blob = ctx.azurite.container.getBlobClient(entry.blobName);
    const actual = (await blob.exists()) ? ((await blob.getProperties()).contentLength ?? 0) : -1;
    if (actual < 0) {
      twirpError(res, 'not_found', `nothing was uploaded for key ${key}`);
      return;
    }
    if (actual !== declared) {
      twirpError(
        res,
        'invalid_argument',
        `size_bytes ${declared} does not match the ${actual} bytes uploaded`,
      );
      return;
    }
    entry.finalized = true;
    entry.sizeBytes = actual;
    ctx.stats.recordUpload(key, actual);
    sendJson(res, 200, { ok: true, entry_id: String(entry.id) });
    return;
  }

  const restoreKeys = Array.isArray(body.restore_keys)
    ? body.restore_keys.filter((k): k is string => typeof k === 'string')
    : [];
  const entry = ctx.store.match(key, restoreKeys, version);
  if (!entry) {
    // The real service answers a miss with ok=false, not with an error.
    sendJson(res, 200, { ok: false });
    return;
  }
  sendJson(res, 200, {
    ok: true,
    signed_download_url: downloadUrl(ctx, entry.id),
    matched_key: entry.key,
  });
}

/**
 * Downloads go through the emulator, which streams the blob from Azurite: that is how it
 * counts bytes downloaded and injects download faults. The library fetches any URL that is
 * not on *.blob.core.windows.net with a plain GET, exactly as it would fetch Azurite.
 */
export function downloadUrl(ctx: EmulatorContext, entryId: number): string {
  return `${ctx.baseUrl}/_download/${entryId}`;
}
