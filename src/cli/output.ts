import { Progress, type ProgressMode } from './progress.js';

/** Where a command's results go: text or one JSON document on stdout, progress on stderr. */
export class Output {
  readonly json: boolean;
  private readonly progressModeValue: ProgressMode;
  private readonly writeOut: (text: string) => void;

  constructor(options: { json: boolean; progress: ProgressMode; stdout?: (text: string) => void }) {
    this.json = options.json;
    this.progressModeValue = options.progress;
    this.writeOut = options.stdout ?? ((text) => void process.stdout.write(text));
  }

  /** Prints a line of text (not in --json mode). */
  line(text: string): void {
    if (!this.json) this.writeOut(`${text}\n`);
  }

  /** Prints the JSON document (only in --json mode). */
  document(value: unknown): void {
    if (this.json) this.writeOut(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Starts a progress display on stderr. */
  progress(label: string): Progress {
    return new Progress(label, { mode: this.progressModeValue });
  }
}
