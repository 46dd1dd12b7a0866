import { status as GrpcStatus } from '@grpc/grpc-js';
import { CasError, type CasErrorReason } from '../../errors.js';
import { Command_OutputDirectoryFormat } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type CaptureFilesResponse_Response,
  type CaptureTreeResponse_Response,
  type StageTreeRequest,
  StageTreeRequest_StagingMode,
  type StageTreeResponse,
} from '../../gen/build/buildgrid/local_cas.js';
import type { Status } from '../../gen/google/rpc/status.js';
import { type CallSettings, grpcToCasError, unary } from '../../grpc/call.js';
import type { Connection } from '../../grpc/connection.js';
import { type Digest, formatDigest } from '../digest.js';

export { Command_OutputDirectoryFormat as OutputDirectoryFormat };

/** Settings shared by the LocalCAS wrappers. */
export interface LocalCasSettings extends CallSettings {
  /** casd instance; "" (the default) is the local store, or the remote casd proxies to. */
  instanceName?: string;
  /** Captures only: store locally even when the instance proxies to a remote (we push later). */
  skipUpload?: boolean;
  /**
   * CaptureFiles only: casd moves each file into its store instead of copying it. For our own
   * temporary files (in the store's `tmp`, on the same filesystem): one new inode, not two.
   */
  moveFiles?: boolean;
}

const REASON_BY_STATUS: Partial<Record<number, CasErrorReason>> = {
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'cache-too-full',
  [GrpcStatus.NOT_FOUND]: 'blob-not-found',
  [GrpcStatus.INVALID_ARGUMENT]: 'invalid-input',
  [GrpcStatus.UNAVAILABLE]: 'remote-unavailable',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'timeout',
  [GrpcStatus.DATA_LOSS]: 'corrupt-data',
};

/**
 * Turns a per-item `google.rpc.Status` (as CaptureFiles/CaptureTree return one per path) into
 * a CasError, or undefined when it is OK. RESOURCE_EXHAUSTED becomes 'cache-too-full'.
 *
 * `doing` names the operation and the path, e.g. `capturing /tmp/x`.
 */
export function statusToCasError(status: Status | undefined, doing: string): CasError | undefined {
  if (!status || status.code === GrpcStatus.OK) return undefined;
  const reason = REASON_BY_STATUS[status.code] ?? 'io';
  const name = GrpcStatus[status.code] ?? String(status.code);
  const hint = reason === 'cache-too-full' ? ' (the local cache is full: raise the quota or free space)' : '';
  return new CasError(reason, `${doing} failed: ${name}: ${status.message || 'no details'}${hint}`, {
    grpcCode: status.code,
  });
}

/** The fields CaptureFiles and CaptureTree share: capture `paths` as they are, no properties. */
function captureFields(paths: string[], settings: LocalCasSettings) {
  return {
    instanceName: settings.instanceName ?? '',
    path: paths,
    bypassLocalCache: false,
    nodeProperties: [],
    moveFiles: settings.moveFiles ?? false,
    root: '',
    skipUpload: settings.skipUpload ?? false,
    unixModeMask: undefined,
  };
}

/** One response per path, or an error: casd answering for other paths would misattribute. */
function onePerPath<T>(responses: T[], paths: string[], call: string): T[] {
  if (responses.length !== paths.length) {
    throw new CasError(
      'remote-error',
      `${call} returned ${responses.length} responses for ${paths.length} paths`,
    );
  }
  return responses;
}

/**
 * LocalCAS CaptureFiles: casd hashes and stores each file (absolute paths) and returns one
 * response per path, in request order, each with its own status. Throws only when the call
 * itself fails; per-path failures are left to the caller (see statusToCasError).
 */
export async function captureFiles(
  connection: Connection,
  paths: string[],
  settings: LocalCasSettings = {},
): Promise<CaptureFilesResponse_Response[]> {
  const client = connection.localCas;
  try {
    const response = await unary(client.captureFiles.bind(client), captureFields(paths, settings), settings);
    return onePerPath(response.responses, paths, 'CaptureFiles');
  } catch (err) {
    throw grpcToCasError(err, `capturing ${paths.length} file(s) (LocalCAS CaptureFiles)`);
  }
}

/**
 * LocalCAS CaptureTree: casd stores every file and Directory under each path. With
 * `format` DIRECTORY_ONLY (the default here) it fills `rootDirectoryDigest`; casd leaves it
 * empty for TREE_ONLY. One response per path, each with its own status.
 */
export async function captureTree(
  connection: Connection,
  paths: string[],
  settings: LocalCasSettings & { format?: Command_OutputDirectoryFormat } = {},
): Promise<CaptureTreeResponse_Response[]> {
  const client = connection.localCas;
  try {
    const request = {
      ...captureFields(paths, settings),
      outputDirectoryFormat: settings.format ?? Command_OutputDirectoryFormat.DIRECTORY_ONLY,
    };
    const response = await unary(client.captureTree.bind(client), request, settings);
    return onePerPath(response.responses, paths, 'CaptureTree');
  } catch (err) {
    throw grpcToCasError(err, `capturing ${paths.length} tree(s) (LocalCAS CaptureTree)`);
  }
}

/** A tree casd has staged; call `unstage()` when done with `path`. */
export interface StagedTree {
  /** Where casd materialised the tree (casd may pick it when none was asked for). */
  readonly path: string;
  /** Asks casd to remove the staged tree and waits until it has. */
  unstage(): Promise<void>;
}

/**
 * LocalCAS StageTree: asks casd to materialise `root` at `dest` (an empty or missing
 * directory; "" lets casd choose) and returns once it is there.
 *
 * Why a stream: the tree stays staged for as long as the call is open; a second, empty
 * request (or closing our side) tells casd to unstage it, after which casd ends the call.
 */
export function stageTree(
  connection: Connection,
  root: Digest,
  dest: string,
  settings: { instanceName?: string } = {},
): Promise<StagedTree> {
  const call = connection.localCas.stageTree();
  const doing = `staging tree ${formatDigest(root)} at ${dest || '(casd chooses)'}`;
  const finished = new Promise<void>((resolve, reject) => {
    call.on('status', (s: { code: number; details: string }) => {
      if (s.code === GrpcStatus.OK) resolve();
      else reject(statusToCasError({ code: s.code, message: s.details, details: [] }, doing));
    });
    call.on('error', (err) => reject(grpcToCasError(err, doing)));
  });
  // Keep a rejection of `finished` from being unhandled while nobody awaits it yet.
  finished.catch(() => undefined);

  return new Promise<StagedTree>((resolve, reject) => {
    let staged = false;
    call.once('data', (response: StageTreeResponse) => {
      staged = true;
      let unstaging: Promise<void> | undefined;
      resolve({
        path: response.path,
        unstage: () => {
          unstaging ??= (async () => {
            call.write(emptyStageRequest());
            call.end();
            await finished;
          })();
          return unstaging;
        },
      });
    });
    finished.then(
      () => {
        if (!staged) reject(new CasError('io', `${doing} failed: casd ended the call without staging`));
      },
      (err: unknown) => {
        if (!staged) reject(err);
      },
    );
    call.write({
      ...emptyStageRequest(),
      instanceName: settings.instanceName ?? '',
      rootDigest: root,
      path: dest,
    });
  });
}

function emptyStageRequest(): StageTreeRequest {
  return {
    instanceName: '',
    rootDigest: undefined,
    path: '',
    accessCredentials: undefined,
    preUnstageCommands: [],
    stagingMode: StageTreeRequest_StagingMode.DEFAULT,
    remoteApisSocketPath: '',
  };
}
