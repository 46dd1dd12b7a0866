import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Azurite } from './azurite.js';
import type { EmulatorStats, EntryStore, Faults } from './model.js';

/** What every handler gets: the shared state of one emulator. */
export interface EmulatorContext {
  store: EntryStore;
  stats: EmulatorStats;
  faults: Faults;
  azurite: Azurite;
  /** `http://127.0.0.1:PORT` of the emulator itself. */
  baseUrl: string;
  token: string;
  /** v1 chunk uploads in progress, by entry id. */
  v1Uploads: Map<number, { start: number; data: Buffer }[]>;
}

/** Reads a whole request body. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Parses a JSON object body; undefined when it is not one. */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  try {
    const value: unknown = JSON.parse((await readBody(req)).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** True when the request carries the emulator's runtime token. */
export function authorized(req: IncomingMessage, token: string): boolean {
  return req.headers.authorization === `Bearer ${token}`;
}

export function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  return typeof value === 'string' ? value : undefined;
}
