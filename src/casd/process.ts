import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sleep } from '../util/concurrency.js';
import { ATTACHED_POLL_MS } from './options.js';

/** How a process ended; null where it is not known. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The daemon's process, whether it is our child or one an earlier process started (known by
 * pid only). Internal to the daemon manager.
 */
export interface ProcessHandle {
  /** Undefined while running. */
  exitStatus(): ExitStatus | undefined;
  alive(): boolean;
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL to the whole process group (casd leads one), else to the process. */
  kill(): void;
  /** Resolves true once the process has exited, false after `timeoutMs` without. */
  waitExit(timeoutMs: number): Promise<boolean>;
}

function send(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    // EPERM: it exists but is not ours to signal; it is still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pid: number): void {
  // A negative pid signals the group: children casd spawned go too.
  if (!send(-pid, 'SIGKILL')) send(pid, 'SIGKILL');
}

/**
 * Wraps a child we spawned. When `tied`, the child gets SIGTERM if this process exits
 * normally while it still runs, so a front end that forgets to stop it leaves no orphan.
 */
export function childHandle(child: ChildProcess, tied: boolean): ProcessHandle {
  const pid = child.pid as number;
  let status: ExitStatus | undefined;
  const onParentExit = (): void => {
    if (!status) send(pid, 'SIGTERM');
  };
  if (tied) process.once('exit', onParentExit);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      process.removeListener('exit', onParentExit);
      resolve();
    });
  });
  return {
    exitStatus: () => status,
    alive: () => status === undefined,
    signal: (signal) => void send(pid, signal),
    kill: () => killGroup(pid),
    async waitExit(timeoutMs) {
      if (status) return true;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        return await Promise.race([exited.then(() => true), timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

// An exited process whose parent has not reaped it still answers signal 0. A daemon attached
// from an earlier process was orphaned, and not every init (containers!) reaps promptly, so
// on Linux a zombie counts as dead.
function isZombie(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** True while process `pid` exists and has not exited (a zombie counts as exited). */
export function processAlive(pid: number): boolean {
  return send(pid, 0) && !isZombie(pid);
}

/**
 * Wraps a process known only by pid (started by an earlier process of ours). Liveness comes
 * from signal 0; its exit code cannot be known, so it is reported as null.
 */
export function attachedHandle(pid: number): ProcessHandle {
  let dead = false;
  const alive = (): boolean => {
    if (!dead && !processAlive(pid)) dead = true;
    return !dead;
  };
  return {
    exitStatus: () => (alive() ? undefined : { code: null, signal: null }),
    alive,
    signal: (signal) => void send(pid, signal),
    kill: () => killGroup(pid),
    async waitExit(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (alive()) {
        if (Date.now() >= deadline) return false;
        await sleep(Math.min(ATTACHED_POLL_MS, Math.max(deadline - Date.now(), 1)));
      }
      return true;
    },
  };
}
