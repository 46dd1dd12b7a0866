import { formatBytes } from '../util/size.js';

/** How progress is shown: a redrawn line (terminal), periodic plain lines (CI logs), or none. */
export type ProgressMode = 'tty' | 'plain' | 'off';

/** The mode from CASD_ACTION_PROGRESS, else `tty` when stderr is a terminal, else `plain`. */
export function progressMode(
  env: NodeJS.ProcessEnv = process.env,
  isTty = process.stderr.isTTY === true,
): ProgressMode {
  const wanted = env.CASD_ACTION_PROGRESS?.trim().toLowerCase();
  if (wanted === 'tty' || wanted === 'plain' || wanted === 'off') return wanted;
  return isTty ? 'tty' : 'plain';
}

export interface ProgressOptions {
  mode: ProgressMode;
  write?: (text: string) => void;
  /** Redraw interval on a terminal (default 200 ms). */
  redrawMs?: number;
  /** Interval of plain lines (default 10 s): quiet enough for a CI log. */
  plainMs?: number;
}

/**
 * Progress of one long operation: files, bytes and rate. On a terminal a single line is
 * redrawn in place; in a log a line is printed only every `plainMs` while work goes on, and
 * one final line when it ends.
 */
export class Progress {
  private label: string;
  private files = 0;
  private bytes = 0;
  private readonly started = Date.now();
  private readonly timer?: NodeJS.Timeout;
  private readonly mode: ProgressMode;
  private readonly write: (text: string) => void;

  constructor(label: string, options: ProgressOptions) {
    this.label = label;
    this.mode = options.mode;
    this.write = options.write ?? ((text) => void process.stderr.write(text));
    if (this.mode !== 'off') {
      const interval = this.mode === 'tty' ? (options.redrawMs ?? 200) : (options.plainMs ?? 10_000);
      this.timer = setInterval(() => this.tick(), interval);
      this.timer.unref();
    }
  }

  /** Changes what is being done (e.g. `fetching blobs`). */
  phase(label: string): void {
    this.label = label;
  }

  /** Adds work done. */
  add(files: number, bytes: number): void {
    this.files += files;
    this.bytes += bytes;
  }

  /** The line shown: `<label>: N files, X (Y/s), Ts`. */
  line(): string {
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    const rate = formatBytes(Math.round(this.bytes / seconds));
    return `${this.label}: ${this.files} files, ${formatBytes(this.bytes)} (${rate}/s), ${seconds.toFixed(1)} s`;
  }

  private tick(): void {
    if (this.mode === 'tty') this.write(`\r\x1b[2K${this.line()}`);
    else this.write(`${this.line()}\n`);
  }

  /** Stops the display without a final line (the operation failed; its error says why). */
  abandon(): void {
    clearInterval(this.timer);
    if (this.mode === 'tty') this.write('\r\x1b[2K');
  }

  /** Stops the display and prints `summary` (default: the last line) unless off. */
  done(summary?: string): void {
    clearInterval(this.timer);
    if (this.mode === 'off') return;
    if (this.mode === 'tty') this.write('\r\x1b[2K');
    this.write(`${summary ?? this.line()}\n`);
  }
}
