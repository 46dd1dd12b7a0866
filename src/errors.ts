/**
 * Why an operation on the cache failed, as a stable machine-readable word. Callers branch on
 * this (for example to turn `cache-too-full` into a warning) instead of parsing messages.
 */
export type CasErrorReason =
  | 'invalid-input'
  | 'invalid-endpoint'
  | 'invalid-digest'
  | 'invalid-ref'
  | 'ref-not-found'
  | 'blob-not-found'
  | 'cache-too-full'
  | 'cache-layout'
  | 'daemon-start'
  | 'daemon-died'
  | 'daemon-timeout'
  | 'remote-unavailable'
  | 'remote-error'
  | 'corrupt-data'
  | 'unsafe-tree'
  | 'timeout'
  /** Nothing matched the key and fail-on-cache-miss is set. */
  | 'cache-miss'
  | 'io';

export interface CasErrorOptions {
  cause?: unknown;
  /** gRPC status code, when the failure came from a call. */
  grpcCode?: number;
  /** The daemon's log file, when reading it would help. */
  logPath?: string;
}

/** The one error type of the library: a message for people, a reason for code. */
export class CasError extends Error {
  readonly reason: CasErrorReason;
  readonly grpcCode?: number;
  readonly logPath?: string;

  constructor(reason: CasErrorReason, message: string, options: CasErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CasError';
    this.reason = reason;
    this.grpcCode = options.grpcCode;
    this.logPath = options.logPath;
  }
}

/** True when `err` is a CasError with one of the given reasons. */
export function isCasError(err: unknown, ...reasons: CasErrorReason[]): err is CasError {
  return err instanceof CasError && (reasons.length === 0 || reasons.includes(err.reason));
}

/** A short, single-line description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
