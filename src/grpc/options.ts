/**
 * Tuning numbers of talking to a remote. Each is defined here once, with its default and
 * why; `src/casd` (the flags casd starts with) and `src/cas` (remotes registered with a
 * running casd) both read them from here, so a remote is treated alike on either path.
 */

/**
 * Times casd retries a call to a remote that failed with a retryable status (UNAVAILABLE and
 * the like) before the client sees the error: `--cas-retry-limit` (and `--ra-`, `--ac-`) on
 * casd's command line, `retry_limit` of GetInstanceNameForRemotes. 3 rides out a remote's
 * brief hiccup (casd backs off between tries) while a dead remote still fails within seconds.
 */
export const REMOTE_RETRY_LIMIT = 3;

/**
 * Seconds casd gives one call to a remote it proxies to (`--cas-request-timeout`): long enough
 * for a large ByteStream transfer on a slow link, short enough that a hung remote is noticed.
 * A remote registered with a running casd has none (casd's default), as before.
 */
export const REMOTE_REQUEST_TIMEOUT_SECONDS = 120;

// --- from grpc/connection.ts ---

/** How close to the read time a file's mtime must be for the next call to read it again. */
export const TOKEN_FILE_RACY_MS = 1000;
