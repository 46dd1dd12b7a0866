/**
 * Issue 6: "main step with casd already in the tool cache: ready in <= 1 s". Runs the bundled
 * main step (dist/main/index.js, Node 24, as the runner does: __tests__/helpers/runner.ts)
 * with no key and save-local-cache off, so that it only finds casd, starts it and waits until
 * it answers, and times
 * the step process from spawn to exit. Two ways to find casd: the casd-path input, and a hit
 * in the runner's tool cache (RUNNER_TOOL_CACHE/buildbox-casd/<version>/x86_64, what an
 * earlier job's download leaves). Each run is a fresh job with an empty cache directory; the
 * post step (not timed) stops the daemon. Medians of `runs`.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { createRunnerJob, runAction } from '../__tests__/helpers/runner.js';

const VERSION = '1.4.30';

export interface MainReady {
  casdPathMs: number;
  toolCacheMs: number;
  runs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function once(casd: string, viaToolCache: boolean): Promise<number> {
  const job = createRunnerJob();
  try {
    // save-local-cache off: the step would otherwise first look for a saved cache directory in
    // the Actions cache (none is reachable here, and retrying that is not "getting casd ready").
    const inputs: Record<string, string> = {
      'cache-dir': join(job.root, 'cache'),
      'casd-version': VERSION,
      'save-local-cache': 'false',
    };
    if (viaToolCache) {
      const dir = join(job.toolCache, 'buildbox-casd', VERSION, 'x86_64');
      mkdirSync(dir, { recursive: true });
      symlinkSync(casd, join(dir, 'buildbox-casd'));
      writeFileSync(`${dir}.complete`, '');
    } else {
      inputs['casd-path'] = casd;
    }
    const start = process.hrtime.bigint();
    // The tool-cache case must not find casd on PATH first (the bench puts its directory there).
    const path = (process.env.PATH ?? '')
      .split(delimiter)
      .filter((dir) => dir !== dirname(casd))
      .join(delimiter);
    const main = await runAction('main', { job, inputs, env: viaToolCache ? { PATH: path } : {} });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const post = await runAction('post', { after: main });
    if (main.exitCode !== 0 || post.exitCode !== 0) {
      throw new Error(
        `main step exited ${main.exitCode}, post ${post.exitCode}:\n${main.stdout}\n${main.stderr}`,
      );
    }
    if (viaToolCache && !main.stdout.includes('from the tool cache')) {
      throw new Error(`the main step did not use the tool cache:\n${main.stdout}`);
    }
    return ms;
  } finally {
    job.remove();
  }
}

/** Times the main step `runs` times each way (interleaved); gives the medians. */
export async function measureMainReady(casd: string, runs = 5): Promise<MainReady> {
  const viaPath: number[] = [];
  const viaCache: number[] = [];
  for (let i = 0; i < runs; i++) {
    viaPath.push(await once(casd, false));
    viaCache.push(await once(casd, true));
  }
  return { casdPathMs: median(viaPath), toolCacheMs: median(viaCache), runs };
}
