import { readFile } from 'node:fs/promises';

export type JobStatus = 'success' | 'failure' | 'cancelled' | 'unknown';

export interface JobStatusResult {
  status: JobStatus;
  /** Why the status is what it is, for the summary. */
  detail: string;
}

interface JobsResponse {
  jobs?: {
    id: number;
    name: string;
    runner_name: string | null;
    status: string;
    steps?: { name: string; status: string; conclusion: string | null }[];
  }[];
}

/**
 * Reads this job's status through the REST API: a JavaScript post step cannot see it directly
 * (actions/runner#2911). Needs `actions: read` for the token. Any failure to find out gives
 * `unknown` with the reason; it never throws.
 */
export async function readJobStatus(
  env: NodeJS.ProcessEnv,
  token: string | undefined,
): Promise<JobStatusResult> {
  const api = env.GITHUB_API_URL ?? 'https://api.github.com';
  const repo = env.GITHUB_REPOSITORY;
  const runId = env.GITHUB_RUN_ID;
  const attempt = env.GITHUB_RUN_ATTEMPT ?? '1';
  if (!token) return { status: 'unknown', detail: 'no github-token to read the job status with' };
  if (!repo || !runId) return { status: 'unknown', detail: 'not running in a GitHub Actions job' };
  const url = `${api}/repos/${repo}/actions/runs/${runId}/attempts/${attempt}/jobs?per_page=100`;
  let body: JobsResponse;
  try {
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json' },
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) {
      const hint =
        response.status === 403 || response.status === 404
          ? ' (grant the job `permissions: actions: read`)'
          : '';
      return { status: 'unknown', detail: `the jobs API answered HTTP ${response.status}${hint}` };
    }
    body = (await response.json()) as JobsResponse;
  } catch (err) {
    return { status: 'unknown', detail: `the jobs API could not be reached: ${(err as Error).message}` };
  }
  const running = (body?.jobs ?? []).filter((job) => job.status === 'in_progress');
  const job =
    running.find((j) => env.RUNNER_NAME && j.runner_name === env.RUNNER_NAME) ??
    (running.length === 1 ? running[0] : undefined);
  if (!job) return { status: 'unknown', detail: 'this job was not found among the run’s jobs in progress' };
  const conclusions = (job.steps ?? []).map((step) => step.conclusion);
  if (conclusions.includes('cancelled'))
    return { status: 'cancelled', detail: `job "${job.name}" was cancelled` };
  if (conclusions.includes('failure'))
    return { status: 'failure', detail: `a step of job "${job.name}" failed` };
  return { status: 'success', detail: `every finished step of job "${job.name}" succeeded` };
}

/** True when this run is a pull request from a fork, where pushing would be untrusted. */
export async function isForkPullRequest(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (!env.GITHUB_EVENT_NAME?.startsWith('pull_request') || !env.GITHUB_EVENT_PATH) return false;
  try {
    const event = JSON.parse(await readFile(env.GITHUB_EVENT_PATH, 'utf8')) as {
      pull_request?: {
        head?: { repo?: { full_name?: string } | null };
        base?: { repo?: { full_name?: string } };
      };
    };
    const head = event.pull_request?.head?.repo?.full_name;
    const base = event.pull_request?.base?.repo?.full_name ?? env.GITHUB_REPOSITORY;
    return head === undefined || head !== base;
  } catch {
    // An unreadable event is treated as untrusted.
    return true;
  }
}
