/**
 * Why this exists: @actions/cache never reports why a save or restore failed. saveCache
 * returns -1 and restoreCache returns undefined for a miss and for a failure alike; the
 * reason goes only to the log through @actions/core (`::warning::Failed to save: ...` on
 * stdout). To tell a miss from an outage, and to put the reason into our own warnings, we
 * watch stdout while one of its calls runs. Everything still reaches stdout unchanged.
 */

type Listener = (line: string) => void;

const listeners = new Set<Listener>();
/** Lines for which one of these is true are kept off stdout (the caller reports them itself). */
const holds = new Set<(line: string) => boolean>();
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
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      pending += text;
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) for (const listener of listeners) listener(line);
      // @actions/core writes each command as one chunk, so a held line is one whole write.
      if ([...holds].some((hold) => hold(text))) return true;
    }
    return (write as (...args: unknown[]) => boolean).apply(process.stdout, [chunk, ...rest]);
  } as typeof process.stdout.write;
}

function uninstall(): void {
  if (!originalWrite || listeners.size > 0 || holds.size > 0) return;
  process.stdout.write = originalWrite;
  originalWrite = undefined;
}

/**
 * Runs `body` while collecting the problems @actions/core reports on stdout. Returns its
 * value (or rethrows) along with those problems, in order. Problems for which `hold` is true
 * are collected but kept off stdout.
 */
export async function withProblems<T>(
  body: () => Promise<T>,
  hold?: (problem: string) => boolean,
): Promise<{ value: T; problems: string[] }> {
  const problems: string[] = [];
  const listener: Listener = (line) => {
    const problem = problemOf(line);
    if (problem !== undefined) problems.push(problem);
  };
  const held =
    hold &&
    ((text: string): boolean =>
      text.split(/\r?\n/).some((l) => {
        const problem = problemOf(l);
        return problem !== undefined && hold(problem);
      }));
  listeners.add(listener);
  if (held) holds.add(held);
  install();
  try {
    const value = await body();
    return { value, problems };
  } finally {
    listeners.delete(listener);
    if (held) holds.delete(held);
    uninstall();
  }
}
