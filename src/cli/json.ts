/**
 * The JSON documents the CLI prints with --json, as TypeScript types and as small schemas
 * that `checkJson` validates against (the tests check every command's output this way).
 * docs/cli.md documents the same shapes.
 */

/** A field's type in a schema: a primitive, nullable primitive, array or nested object. */
export type FieldType =
  | 'string'
  | 'number'
  | 'boolean'
  | 'string?'
  | 'number?'
  | { array: FieldType }
  | { object: Schema }
  | { nullable: { object: Schema } };

/** An object schema: every field listed is required; no other field is allowed. */
export type Schema = Record<string, FieldType>;

export interface SettingsJson {
  bazelrc: string;
  reccEnv: string;
  buildstreamConf: string;
}
const settingsSchema: Schema = { bazelrc: 'string', reccEnv: 'string', buildstreamConf: 'string' };

export interface StartJson {
  socket: string;
  grpcUrl: string | null;
  bazelUrl: string | null;
  pid: number;
  cacheDir: string;
  logPath: string;
  version: string | null;
  stateFile: string;
  remote: string | null;
  settings: SettingsJson | null;
}

export interface StopJson {
  stopped: boolean;
  pid: number | null;
  exitCode: number | null;
  logPath: string | null;
}

export interface StatusJson {
  /** False when the directory holds no cache (then nothing is used and there is no quota). */
  cache: boolean;
  running: boolean;
  pid: number | null;
  socket: string | null;
  grpcUrl: string | null;
  bazelUrl: string | null;
  cacheDir: string;
  usedBytes: number;
  /** null without a quota. */
  quotaBytes: number | null;
  usage: string;
  refs: number;
}

export interface CaptureJson {
  ref: string | null;
  digest: string;
  paths: string[];
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
}

export interface CheckoutJson {
  digest: string;
  dest: string;
  files: number;
  linked: number;
  directories: number;
  symlinks: number;
  fetchedFromRemote: boolean;
}

export interface DiffJson {
  a: string;
  b: string;
  modified: string[];
  removed: string[];
  added: string[];
}

export interface RefJson {
  name: string;
  digest: string;
  mtime: string;
}
export interface RefsJson {
  refs: RefJson[];
}

export interface RmJson {
  removed: string[];
}

export interface PushedRefJson {
  name: string;
  digest: string;
  /** Blobs of the tree asked about. */
  blobsChecked: number;
  /** Blobs not asked about: the ref's tree on the remote holds them at the same path. */
  blobsSkipped: number;
  /** Of those, the blobs the remote lacked. */
  blobsMissing: number;
  blobsUploaded: number;
  bytesUploaded: number;
  published: boolean;
}
export interface PushJson {
  remote: string;
  refs: PushedRefJson[];
  blobsUploaded: number;
  bytesUploaded: number;
}

export interface PulledRefJson {
  name: string;
  digest: string;
  blobsFetched: number;
  bytesFetched: number;
}
export interface PullJson {
  remote: string;
  refs: PulledRefJson[];
  blobsFetched: number;
  bytesFetched: number;
}

export interface ServeJson {
  url: string;
  socket: string;
  pid: number;
  cacheDir: string;
  logPath: string;
}

export interface GcJson {
  targetBytes: number;
  keptBytes: number;
  kept: string[];
  removed: { name: string; digest: string; bytes: number }[];
}

export interface VerifyJson {
  /** Objects re-hashed, and their bytes. */
  checked: number;
  bytes: number;
  /** Objects the given trees name that the local cache lacks (0 without trees). */
  missing: number;
  /** `digest`: HASH/SIZE when a tree named the object, HASH alone when every object was scanned. */
  evicted: { digest: string; path: string }[];
}

/** The schema of each command's --json document. */
export const SCHEMAS = {
  start: {
    socket: 'string',
    grpcUrl: 'string?',
    bazelUrl: 'string?',
    pid: 'number',
    cacheDir: 'string',
    logPath: 'string',
    version: 'string?',
    stateFile: 'string',
    remote: 'string?',
    settings: { nullable: { object: settingsSchema } },
  },
  stop: { stopped: 'boolean', pid: 'number?', exitCode: 'number?', logPath: 'string?' },
  status: {
    cache: 'boolean',
    running: 'boolean',
    pid: 'number?',
    socket: 'string?',
    grpcUrl: 'string?',
    bazelUrl: 'string?',
    cacheDir: 'string',
    usedBytes: 'number',
    quotaBytes: 'number?',
    usage: 'string',
    refs: 'number',
  },
  capture: {
    ref: 'string?',
    digest: 'string',
    paths: { array: 'string' },
    files: 'number',
    directories: 'number',
    symlinks: 'number',
    bytes: 'number',
  },
  checkout: {
    digest: 'string',
    dest: 'string',
    files: 'number',
    linked: 'number',
    directories: 'number',
    symlinks: 'number',
    fetchedFromRemote: 'boolean',
  },
  diff: {
    a: 'string',
    b: 'string',
    modified: { array: 'string' },
    removed: { array: 'string' },
    added: { array: 'string' },
  },
  refs: { refs: { array: { object: { name: 'string', digest: 'string', mtime: 'string' } } } },
  rm: { removed: { array: 'string' } },
  push: {
    remote: 'string',
    refs: {
      array: {
        object: {
          name: 'string',
          digest: 'string',
          blobsChecked: 'number',
          blobsSkipped: 'number',
          blobsMissing: 'number',
          blobsUploaded: 'number',
          bytesUploaded: 'number',
          published: 'boolean',
        },
      },
    },
    blobsUploaded: 'number',
    bytesUploaded: 'number',
  },
  pull: {
    remote: 'string',
    refs: {
      array: { object: { name: 'string', digest: 'string', blobsFetched: 'number', bytesFetched: 'number' } },
    },
    blobsFetched: 'number',
    bytesFetched: 'number',
  },
  serve: { url: 'string', socket: 'string', pid: 'number', cacheDir: 'string', logPath: 'string' },
  gc: {
    targetBytes: 'number',
    keptBytes: 'number',
    kept: { array: 'string' },
    removed: { array: { object: { name: 'string', digest: 'string', bytes: 'number' } } },
  },
  verify: {
    checked: 'number',
    bytes: 'number',
    missing: 'number',
    evicted: { array: { object: { digest: 'string', path: 'string' } } },
  },
  settings: settingsSchema,
} satisfies Record<string, Schema>;

function checkField(value: unknown, type: FieldType, path: string, problems: string[]): void {
  if (typeof type === 'string') {
    const nullable = type.endsWith('?');
    const base = nullable ? type.slice(0, -1) : type;
    if (value === null && nullable) return;
    if (typeof value !== base || (base === 'number' && !Number.isFinite(value))) {
      problems.push(`${path}: expected ${type}, got ${JSON.stringify(value)}`);
    }
  } else if ('array' in type) {
    if (!Array.isArray(value)) problems.push(`${path}: expected an array`);
    else value.forEach((item, i) => checkField(item, type.array, `${path}[${i}]`, problems));
  } else if ('object' in type) {
    checkObject(value, type.object, path, problems);
  } else if (value !== null) {
    checkObject(value, type.nullable.object, path, problems);
  }
}

function checkObject(value: unknown, schema: Schema, path: string, problems: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${path}: expected an object`);
    return;
  }
  const record = value as Record<string, unknown>;
  for (const [key, type] of Object.entries(schema)) {
    if (!(key in record)) problems.push(`${path}.${key}: missing`);
    else checkField(record[key], type, `${path}.${key}`, problems);
  }
  for (const key of Object.keys(record)) {
    if (!(key in schema)) problems.push(`${path}.${key}: not in the schema`);
  }
}

/** Every way `value` departs from `schema` (an empty list when it conforms). */
export function checkJson(value: unknown, schema: Schema): string[] {
  const problems: string[] = [];
  checkObject(value, schema, '$', problems);
  return problems;
}
