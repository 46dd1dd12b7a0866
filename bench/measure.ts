import { cpus, freemem, totalmem } from 'node:os';
/**
 * What the benchmark measures with: a TCP proxy that counts the bytes each way (in front of
 * the remote casd), a sampler of a process tree's resident memory, and a live progress line.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

/** Counts bytes through a loopback proxy: `sent` = client to server, `received` = back. */
export class CountingProxy {
  sent = 0;
  received = 0;
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free loopback port and forwards every connection to `targetPort`. */
  static async start(targetPort: number): Promise<CountingProxy> {
    const holder: { proxy?: CountingProxy } = {};
    const server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      const self = holder.proxy as CountingProxy;
      for (const s of [client, upstream]) {
        self.sockets.add(s);
        s.on('close', () => self.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => (self.sent += chunk.byteLength));
      upstream.on('data', (chunk: Buffer) => (self.received += chunk.byteLength));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.proxy = new CountingProxy(server, (server.address() as AddressInfo).port);
    return holder.proxy;
  }

  reset(): void {
    this.sent = 0;
    this.received = 0;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function childrenOf(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name in parentheses, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

function rssBytes(pid: number): number {
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(statm[1]) * 4096;
  } catch {
    return 0;
  }
}

/**
 * Samples the summed resident memory of `pid` and all its descendants every `intervalMs`
 * (the memory the runner must have at once: our process, casd, tar, zstd); `stop()` gives
 * the peak seen.
 */
export function sampleTreeRss(pid: number, intervalMs = 100): { stop(): number } {
  return sampleTreesRss(() => [pid], intervalMs);
}

/**
 * As sampleTreeRss, for several process trees at once whose roots may change while sampling
 * (`roots()` is asked at each sample): a step's process and a daemon that an earlier step left
 * running. A process in two trees counts once.
 */
export function sampleTreesRss(
  roots: () => readonly number[],
  intervalMs = 100,
): { stop(): number; peakParts(): string } {
  let peak = 0;
  let parts = new Map<string, number>();
  const sample = (): void => {
    const children = childrenOf();
    const seen = new Set<number>();
    const byName = new Map<string, number>();
    let total = 0;
    const stack = [...roots()];
    while (stack.length > 0) {
      const current = stack.pop() as number;
      if (seen.has(current)) continue;
      seen.add(current);
      const rss = rssBytes(current);
      total += rss;
      const name = commandName(current);
      byName.set(name, (byName.get(name) ?? 0) + rss);
      stack.push(...(children.get(current) ?? []));
    }
    if (total > peak) {
      peak = total;
      parts = byName;
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
    // What the peak was made of, by command name: `node 250.1 MB + buildbox-casd 60.2 MB`.
    peakParts() {
      return [...parts]
        .filter(([, rss]) => rss > 0)
        .sort((a, b) => b[1] - a[1])
        .map(([name, rss]) => `${name} ${mb(rss)}`)
        .join(' + ');
    },
  };
}

function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** A one-line live status on stderr (rewritten in place on a terminal, else a line each). */
export class Progress {
  private timer?: NodeJS.Timeout;
  private label = '';
  private started = 0;
  constructor(private readonly total: number) {}
  private done = 0;

  begin(label: string): void {
    this.label = label;
    this.started = Date.now();
    if (!process.stderr.isTTY) {
      process.stderr.write(`[${this.done + 1}/${this.total}] ${label}\n`);
      return;
    }
    this.draw();
    this.timer = setInterval(() => this.draw(), 200);
  }

  end(): void {
    clearInterval(this.timer);
    this.done++;
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  }

  private draw(): void {
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    process.stderr.write(`\r\x1b[K[${this.done + 1}/${this.total}] ${this.label} ${seconds} s`);
  }
}

/** `12.3 MB` (decimal units), for tables. */
export function mb(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

/** Milliseconds as `850 ms` or `2.31 s`. */
export function ms(value: number): string {
  return value < 1000 ? `${value.toFixed(0)} ms` : `${(value / 1000).toFixed(2)} s`;
}

/** The options every bench script takes: --files N (default 10000), --large, --work DIR. */
export function benchArgs(defaultWork: string): {
  files: number;
  work: string;
  flag: (name: string) => string | undefined;
} {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const files = args.includes('--large') ? 100_000 : Number(flag('--files') ?? 10_000);
  return { files, work: flag('--work') ?? defaultWork, flag };
}

/** The machine a bench ran on, as the results record it. */
export function machineFacts(): { cpus: number; model?: string; memory: string; free: string; node: string } {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memory: mb(totalmem()),
    free: mb(freemem()),
    node: process.version,
  };
}

/** Writes a bench's results as `bench/results/<name>.json` and `<name>.md`. */
export function writeResults(name: string, report: unknown, markdown: string): void {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, `${name}.md`), markdown);
}
