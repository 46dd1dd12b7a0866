import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { ExitStatus, ProcessHandle } from './process.js';

// A detached daemon outlives the process that started it, so nobody is left to wait() for it
// and its exit status would be lost (a later process can only see that the pid is gone). A
// tiny POSIX sh stays as its parent instead: it forwards TERM, INT and HUP to casd, waits, and
// writes casd's status to a file before exiting with the same status. Why the loop: `wait`
// returns early (status > 128) when a trapped signal arrives while casd still runs. Why the
// temp file and rename: a reader never sees a half-written status.
const SCRIPT = [
  'status="$1"; shift',
  '"$@" &',
  'child=$!',
  'trap \'kill -TERM "$child" 2>/dev/null\' TERM',
  'trap \'kill -INT "$child" 2>/dev/null\' INT',
  'trap \'kill -HUP "$child" 2>/dev/null\' HUP',
  'while :; do',
  '  wait "$child"',
  '  rc=$?',
  '  kill -0 "$child" 2>/dev/null || break',
  'done',
  'echo "$rc" > "$status.tmp" && mv "$status.tmp" "$status"',
  'exit "$rc"',
].join('\n');

/** Name of the status file the supervisor writes, in the daemon's private socket directory. */
export const EXIT_STATUS_FILE = 'casd.exit';

/**
 * The command that runs `binary args...` under the supervisor, which records casd's exit
 * status in `statusPath`. Returns the program and its arguments for spawn().
 */
export function supervisedCommand(
  binary: string,
  args: string[],
  statusPath: string,
): { command: string; args: string[] } {
  return { command: '/bin/sh', args: ['-c', SCRIPT, 'casd-supervisor', statusPath, binary, ...args] };
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

/**
 * Turns a shell status (0-255; 128+N for death by signal N) into an exit code or a signal.
 * Why 128+N counts as a signal: that is how sh reports it; casd itself never exits above 128.
 */
export function decodeShellStatus(status: number): ExitStatus {
  const signal = status > 128 ? SIGNAL_NAMES.get(status - 128) : undefined;
  return signal ? { code: null, signal } : { code: status, signal: null };
}

/** The status the supervisor recorded in `statusPath`, or undefined when there is none (yet). */
export function readExitStatus(statusPath: string): ExitStatus | undefined {
  let text: string;
  try {
    text = readFileSync(statusPath, 'utf8').trim();
  } catch {
    return undefined;
  }
  return /^\d+$/.test(text) ? decodeShellStatus(Number(text)) : undefined;
}

/**
 * Wraps the handle of a supervisor process so that, once it has exited, the status reported
 * is casd's own (from the status file) rather than the supervisor's, or (when the supervisor
 * itself was killed and wrote nothing) the supervisor's status decoded as a shell status.
 */
export function supervisedHandle(inner: ProcessHandle, statusPath: string): ProcessHandle {
  return {
    ...inner,
    exitStatus() {
      const ended = inner.exitStatus();
      if (!ended) return undefined;
      const recorded = readExitStatus(statusPath);
      if (recorded) return recorded;
      if (ended.signal === null && ended.code !== null) return decodeShellStatus(ended.code);
      return ended;
    },
  };
}
