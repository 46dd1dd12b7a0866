import { closeSync, openSync, readSync, statSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CasError } from '../errors.js';
import { LOG_TAIL_BYTES, LOG_TAIL_LINES, MAX_LOG_FILES } from './options.js';

export { MAX_LOG_FILES } from './options.js';

/** Directory of the daemon's log files inside a cache directory: `<cacheDir>/cas/logs`. */
export function logDir(cacheDir: string): string {
  return join(cacheDir, 'cas', 'logs');
}

/** An ISO time usable as a file name everywhere: `2024-05-01T12-30-45.123Z`. */
function fileSafeTime(time: Date): string {
  return time.toISOString().replace(/:/g, '-');
}

export interface LogFile {
  path: string;
  /** Open for appending; the caller hands it to the child and closes it. */
  fd: number;
}

/**
 * Creates the log file of one daemon start, `<cacheDir>/cas/logs/<start time>.log`, and removes
 * the oldest files so that at most `keep` remain (the new one included).
 * Returns the path and an open descriptor. Throws CasError('io') when the directory cannot be
 * created.
 */
export function createLogFile(cacheDir: string, startTime = new Date(), keep = MAX_LOG_FILES): LogFile {
  const dir = logDir(cacheDir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new CasError('io', `cannot create the daemon log directory ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const stem = fileSafeTime(startTime);
  for (let n = 0; ; n++) {
    const path = join(dir, n === 0 ? `${stem}.log` : `${stem}-${n}.log`);
    try {
      // 'wx': two starts in the same millisecond get distinct files instead of sharing one.
      const fd = openSync(path, 'wx', 0o644);
      pruneLogs(dir, keep, path);
      return { path, fd };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CasError('io', `cannot create the daemon log file ${path}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
}

/**
 * Removes `*.log` files in `dir`, oldest first (by modification time, then name), until at most
 * `keep` remain. `current` is never removed. Files that vanish meanwhile are ignored.
 */
export function pruneLogs(dir: string, keep = MAX_LOG_FILES, current?: string): void {
  const logs: { path: string; mtimeMs: number }[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.log')) continue;
    const path = join(dir, name);
    try {
      logs.push({ path, mtimeMs: statSync(path).mtimeMs });
    } catch {
      // removed by someone else meanwhile
    }
  }
  logs.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  let excess = logs.length - keep;
  for (const log of logs) {
    if (excess <= 0) break;
    if (log.path === current) continue;
    rmSync(log.path, { force: true });
    excess--;
  }
}

/**
 * The last `lines` lines of a log file (at most its last 64 KiB), for error messages.
 * Returns '' when the file is missing or empty.
 */
export function tailLog(path: string, lines = LOG_TAIL_LINES): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = statSync(path).size;
    const length = Math.min(size, LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const text = buffer.toString('utf8').replace(/\s+$/, '');
    if (text === '') return '';
    return text.split('\n').slice(-lines).join('\n');
  } finally {
    closeSync(fd);
  }
}

/**
 * Lines worth quoting in an error: up to 5 earlier lines that mention an error (casd prints a
 * parse error and then its whole usage text), then the last `lines` lines. '' when empty.
 */
export function logExcerpt(path: string, lines = LOG_TAIL_LINES): string {
  const text = tailLog(path, Number.MAX_SAFE_INTEGER);
  if (text === '') return '';
  const all = text.split('\n');
  const tail = all.slice(-lines);
  const earlier = all
    .slice(0, -lines)
    .filter((line) => /\b(error|fatal|failed)\b/i.test(line))
    .slice(0, 5);
  return earlier.length > 0 ? [...earlier, '...', ...tail].join('\n') : tail.join('\n');
}
