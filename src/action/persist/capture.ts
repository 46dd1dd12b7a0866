/**
 * Why this exists: @actions/cache never reports why a save or restore failed. saveCache
 * returns -1 and restoreCache returns undefined for a miss and for a failure alike; the
 * reason goes only to the log through @actions/core (`::warning::Failed to save: ...` on
 * stdout). To tell a miss from an outage, and to put the reason into our own warnings, we
 * watch stdout while one of its calls runs. Everything still reaches stdout unchanged.
 */

type Listener = (line: string) => void;

const listeners = new Set<Listener>();
let originalWrite: typeof process.stdout.write | undefined;

function unescapeCommandData(text: string): string {
  return text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

/** The failure a line of @actions/core output announces, if any. */
export function problemOf(line: string): string | undefined {
  const annotation = /^::(warning|error)(?: [^:]*)?::(.*)$/.exec(line);
  if (annotation) return unescapeCommandData(annotation[2]);
  // Reserve conflicts are logged with core.info, as plain lines.
  if (line.startsWith('Failed to save:') || line.startsWith('Failed to restore:')) return line;
  return undefined;
}

function install(): void {
  if (originalWrite) return;
  const write = process.stdout.write;
  originalWrite = write;
  let pending = '';
  process.stdout.write = function (this: unknown, chunk: unknown, ...rest: unknown[]): boolean {
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) {
      pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) for (const listener of listeners) listener(line);
    }
    return (write as (...args: unknown[]) => boolean).apply(process.stdout, [chunk, ...rest]);
  } as typeof process.stdout.write;
}

function uninstall(): void {
  if (!originalWrite || listeners.size > 0) return;
  process.stdout.write = originalWrite;
  originalWrite = undefined;
}

/**
 * Runs `body` while collecting the problems @actions/core reports on stdout. Returns its
 * value (or rethrows) along with those problems, in order.
 */
export async function withProblems<T>(body: () => Promise<T>): Promise<{ value: T; problems: string[] }> {
  const problems: string[] = [];
  const listener: Listener = (line) => {
    const problem = problemOf(line);
    if (problem !== undefined) problems.push(problem);
  };
  listeners.add(listener);
  install();
  try {
    const value = await body();
    return { value, problems };
  } finally {
    listeners.delete(listener);
    uninstall();
  }
}
