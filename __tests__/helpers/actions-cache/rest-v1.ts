import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EmulatorContext, authorized, readBody, readJsonObject, sendJson, stringField } from './http.js';
import type { Operation } from './model.js';
import { downloadUrl } from './twirp.js';

export const V1_MARKER = '/_apis/artifactcache/';

function v1Error(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { $id: '1', innerException: null, message, typeName: 'EmulatorError', errorCode: 0 });
}

/** Which v1 operation a method and resource path name. */
function operationOf(method: string | undefined, resource: string): Operation | undefined {
  if (method === 'GET' && resource === 'cache') return 'v1.getCacheEntry';
  if (method === 'GET' && resource === 'caches') return 'v1.listCaches';
  if (method === 'POST' && resource === 'caches') return 'v1.reserveCache';
  if (method === 'PATCH' && /^caches\/\d+$/.test(resource)) return 'v1.uploadChunk';
  if (method === 'POST' && /^caches\/\d+$/.test(resource)) return 'v1.commitCache';
  return undefined;
}

/**
 * Serves the v1 REST protocol (`_apis/artifactcache/...`) that GHES still uses: look-up by
 * a comma-separated key list, reserve, chunked PATCH upload with Content-Range, commit.
 * Committed archives are stored in Azurite like v2 entries.
 */
export async function handleV1(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL) {
  const resource = url.pathname.slice(url.pathname.indexOf(V1_MARKER) + V1_MARKER.length);
  const operation = operationOf(req.method, resource);
  if (!operation) {
    v1Error(res, 404, `unknown resource ${req.method} ${resource}`);
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
    v1Error(res, fault.status, `injected fault ${fault.status}`);
    return;
  }
  if (!authorized(req, ctx.token)) {
    v1Error(res, 401, 'missing or wrong bearer token');
    return;
  }

  if (operation === 'v1.getCacheEntry') {
    const keys = (url.searchParams.get('keys') ?? '').split(',').filter(Boolean);
    const version = url.searchParams.get('version') ?? '';
    const entry = keys.length > 0 ? ctx.store.match(keys[0], keys.slice(1), version) : undefined;
    if (!entry) {
      res.writeHead(204).end();
      return;
    }
    sendJson(res, 200, {
      cacheKey: entry.key,
      scope: 'refs/heads/main',
      cacheVersion: entry.version,
      creationTime: entry.createdAt.toISOString(),
      archiveLocation: downloadUrl(ctx, entry.id),
    });
    return;
  }

  if (operation === 'v1.listCaches') {
    const key = url.searchParams.get('key') ?? '';
    const caches = ctx.store.all().filter((e) => e.finalized && e.key === key);
    sendJson(res, 200, {
      totalCount: caches.length,
      artifactCaches: caches.map((e) => ({
        cacheKey: e.key,
        cacheVersion: e.version,
        scope: 'refs/heads/main',
      })),
    });
    return;
  }

  if (operation === 'v1.reserveCache') {
    const body = await readJsonObject(req);
    const key = body ? stringField(body, 'key') : undefined;
    const version = body ? stringField(body, 'version') : undefined;
    if (!key || !version) {
      v1Error(res, 400, 'key and version are required');
      return;
    }
    if (fault?.kind === 'conflict' || ctx.store.exists(key, version)) {
      v1Error(res, 409, `Cache already exists. Scope: refs/heads/main, Key: ${key}, Version: ${version}`);
      return;
    }
    const entry = ctx.store.create(key, version, 'v1');
    ctx.v1Uploads.set(entry.id, []);
    sendJson(res, 201, { cacheId: entry.id });
    return;
  }

  const id = Number(resource.slice('caches/'.length));
  const entry = ctx.store.byId(id);
  const chunks = ctx.v1Uploads.get(id);
  if (!entry || !chunks || entry.finalized) {
    v1Error(res, 404, `no cache upload with id ${id}`);
    return;
  }

  if (operation === 'v1.uploadChunk') {
    const range = /^bytes (\d+)-(\d+)\/\*$/.exec(req.headers['content-range'] ?? '');
    const data = await readBody(req);
    if (!range || Number(range[2]) - Number(range[1]) + 1 !== data.length) {
      v1Error(res, 400, `bad Content-Range ${req.headers['content-range']} for ${data.length} bytes`);
      return;
    }
    chunks.push({ start: Number(range[1]), data });
    res.writeHead(204).end();
    return;
  }

  const body = await readJsonObject(req);
  const size = Number(body?.size ?? -1);
  const archive = assemble(chunks);
  if (!archive || archive.length !== size) {
    v1Error(
      res,
      400,
      `commit size ${size} does not match the ${archive?.length ?? 'non-contiguous'} bytes uploaded`,
    );
    return;
  }
  await ctx.azurite.container.getBlockBlobClient(entry.blobName).uploadData(archive);
  ctx.v1Uploads.delete(id);
  entry.finalized = true;
  entry.sizeBytes = archive.length;
  ctx.stats.recordUpload(entry.key, archive.length);
  res.writeHead(204).end();
}

/** Joins uploaded chunks in offset order; undefined when they leave a gap or overlap. */
function assemble(chunks: { start: number; data: Buffer }[]): Buffer | undefined {
  const sorted = [...chunks].sort((a, b) => a.start - b.start);
  let offset = 0;
  for (const chunk of sorted) {
    if (chunk.start !== offset) return undefined;
    offset += chunk.data.length;
  }
  return Buffer.concat(sorted.map((c) => c.data));
}
