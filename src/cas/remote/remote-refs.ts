import { status } from '@grpc/grpc-js';
import { CasError } from '../../errors.js';
import { grpcToCasError, isGrpcError, unary } from '../../grpc/call.js';
import { type Digest, formatDigest, validateDigest } from '../digest.js';
import type { Remote } from './remote.js';

/** Our own URN scheme for refs; BuildStream's artifacts use `urn:fdc:buildstream.build:2020:...`. */
export const DEFAULT_REF_URN_TEMPLATE = 'urn:fdc:casd-action:2026:ref:{name}';

export interface RemoteRefOptions {
  /** URN template with a `{name}` placeholder (default DEFAULT_REF_URN_TEMPLATE). */
  uriTemplate?: string;
  /** Remote Asset qualifiers, sent with every push and fetch (e.g. a project or OS). */
  qualifiers?: Record<string, string>;
  /** Deadline of the call, in milliseconds. */
  timeoutMs?: number;
}

/**
 * The URN under which ref `name` is published. Characters outside the URN-safe set are
 * percent-encoded; `/` is kept so that `project/branch` reads naturally.
 * Throws CasError('invalid-ref') for an empty name or a template without `{name}`.
 */
export function refUri(name: string, template = DEFAULT_REF_URN_TEMPLATE): string {
  if (name.trim() === '' || /[\s\p{Cc}]/u.test(name)) {
    throw new CasError('invalid-ref', `ref name "${name}" must be non-empty and contain no whitespace`);
  }
  if (!template.includes('{name}')) {
    throw new CasError('invalid-input', `ref URN template "${template}" has no {name} placeholder`);
  }
  return template.split('{name}').join(encodeURIComponent(name).replace(/%2F/g, '/'));
}

function qualifierList(
  qualifiers: Record<string, string> | undefined,
): Array<{ name: string; value: string }> {
  return Object.entries(qualifiers ?? {})
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Publishes ref `name` -> `root` (a Directory digest) on the remote with Remote Asset
 * PushDirectory. Returns false, after a notice, when the remote has no Remote Asset service;
 * throws CasError for a read-only remote or any other failure.
 */
export async function pushRef(
  remote: Remote,
  name: string,
  root: Digest,
  options: RemoteRefOptions = {},
): Promise<boolean> {
  const uri = refUri(name, options.uriTemplate);
  validateDigest(root, `ref ${name}`);
  if (remote.spec.readOnly) {
    throw new CasError(
      'invalid-input',
      `cannot publish ref ${name}: remote ${remote.spec.url} is configured read-only`,
    );
  }
  const push = remote.assetConnection.push;
  try {
    await unary(
      push.pushDirectory.bind(push),
      {
        instanceName: remote.spec.instanceName ?? '',
        uris: [uri],
        qualifiers: qualifierList(options.qualifiers),
        expireAt: undefined,
        rootDirectoryDigest: root,
        referencesBlobs: [],
        referencesDirectories: [],
        digestFunction: 0,
      },
      { timeoutMs: options.timeoutMs },
    );
    return true;
  } catch (err) {
    if (isGrpcError(err, status.UNIMPLEMENTED)) {
      remote.logger.info(
        `remote ${remote.spec.url} has no Remote Asset service: ref ${name} was not published (blobs were pushed)`,
      );
      return false;
    }
    throw grpcToCasError(err, `publishing ref ${name} (${uri} -> ${formatDigest(root)})`);
  }
}

/**
 * The Directory digest ref `name` points at on the remote (Remote Asset FetchDirectory), or
 * undefined when the remote does not know the ref or has no Remote Asset service (the latter
 * with a notice). Throws CasError on other failures.
 */
export async function resolveRemoteRef(
  remote: Remote,
  name: string,
  options: RemoteRefOptions = {},
): Promise<Digest | undefined> {
  const uri = refUri(name, options.uriTemplate);
  const fetch = remote.assetConnection.fetch;
  try {
    const response = await unary(
      fetch.fetchDirectory.bind(fetch),
      {
        instanceName: remote.spec.instanceName ?? '',
        timeout: undefined,
        oldestContentAccepted: undefined,
        uris: [uri],
        qualifiers: qualifierList(options.qualifiers),
        digestFunction: 0,
      },
      { timeoutMs: options.timeoutMs },
    );
    // Why: Remote Asset may report failure in the response's status instead of the call's.
    const code = response.status?.code ?? 0;
    if (code === status.NOT_FOUND) return undefined;
    if (code !== 0) {
      throw new CasError(
        'remote-error',
        `resolving ref ${name} (${uri}) on ${remote.spec.url} failed: ${status[code] ?? code}: ${response.status?.message ?? ''}`,
        { grpcCode: code },
      );
    }
    if (!response.rootDirectoryDigest) return undefined;
    return validateDigest(response.rootDirectoryDigest, `ref ${name} on ${remote.spec.url}`);
  } catch (err) {
    if (isGrpcError(err, status.NOT_FOUND)) return undefined;
    if (isGrpcError(err, status.UNIMPLEMENTED)) {
      remote.logger.info(
        `remote ${remote.spec.url} has no Remote Asset service: ref ${name} cannot be resolved there`,
      );
      return undefined;
    }
    throw grpcToCasError(err, `resolving ref ${name} (${uri}) on ${remote.spec.url}`);
  }
}
