import { type CallOptions, type ClientUnaryCall, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { CasError, type CasErrorReason } from '../errors.js';

/** The four-argument form every ts-proto unary client method has. */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export interface CallSettings {
  /** Deadline for this call, in milliseconds from now. */
  timeoutMs?: number;
  /** Aborting cancels the call (it then rejects with CANCELLED). */
  signal?: AbortSignal;
}

/** Calls a unary method and returns a promise of its response. */
export function unary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  settings: CallSettings = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const options: Partial<CallOptions> = {};
    if (settings.timeoutMs !== undefined) options.deadline = Date.now() + settings.timeoutMs;
    const call = method(request, new Metadata(), options, (error, response) => {
      settings.signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(response);
    });
    const onAbort = (): void => call.cancel();
    if (settings.signal?.aborted) call.cancel();
    else settings.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** True when `err` is a gRPC error with one of the given status codes. */
export function isGrpcError(err: unknown, ...codes: status[]): err is ServiceError {
  if (typeof err !== 'object' || err === null || !('code' in err) || !('details' in err)) return false;
  return codes.length === 0 || codes.includes((err as ServiceError).code);
}

const REASON_BY_CODE: Partial<Record<status, CasErrorReason>> = {
  [status.UNAVAILABLE]: 'remote-unavailable',
  [status.DEADLINE_EXCEEDED]: 'timeout',
  [status.RESOURCE_EXHAUSTED]: 'cache-too-full',
  [status.NOT_FOUND]: 'blob-not-found',
  [status.INVALID_ARGUMENT]: 'invalid-input',
  [status.DATA_LOSS]: 'corrupt-data',
};

const AUTH_CODES: readonly number[] = [status.UNAUTHENTICATED, status.PERMISSION_DENIED];

/** Wraps a gRPC failure into a CasError that says what was being done, keeping the cause. */
export function grpcToCasError(err: unknown, doing: string, logPath?: string): CasError {
  if (err instanceof CasError) return err;
  if (isGrpcError(err)) {
    const reason = REASON_BY_CODE[err.code as status] ?? 'remote-error';
    const name = status[err.code] ?? String(err.code);
    const hint = AUTH_CODES.includes(err.code) ? ' (check the token, token-file and client certificate)' : '';
    return new CasError(reason, `${doing} failed: ${name}: ${err.details || err.message}${hint}`, {
      cause: err,
      grpcCode: err.code,
      logPath,
    });
  }
  return new CasError('io', `${doing} failed: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
    logPath,
  });
}
