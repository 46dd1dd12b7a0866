/**
 * The library logs through this interface so that `src/cas`, `src/casd` and `src/grpc` stay
 * free of `@actions/*`: the action adapts it to `@actions/core`, the CLI to stderr.
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
}

/** Discards everything; the default where a caller passes no logger. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warning: () => undefined,
  error: () => undefined,
};

/** Writes to stderr, with debug lines only when `verbose` is set. */
export function stderrLogger(verbose = false): Logger {
  const write = (prefix: string, message: string): void => {
    process.stderr.write(`${prefix}${message}\n`);
  };
  return {
    debug: (m) => (verbose ? write('debug: ', m) : undefined),
    info: (m) => write('', m),
    warning: (m) => write('warning: ', m),
    error: (m) => write('error: ', m),
  };
}
