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
