// Runs a composite action the way the runner does, as far as these tests need: its steps in
// order, each `uses: casd-action/casd-action/<sub>@<ref>` as this repository's sub-action
// (restore/, save/; the runner would fetch the repository at that ref), each `run:` with
// bash in the workspace with the job's environment, `with:` values and `if:` conditions with
// `${{ inputs.X }}` and `${{ steps.ID.outputs.Y }}` substituted. Supported `if:` forms:
// `always()`, `success()`, `A == 'v'`, `A != 'v'` (A an expression as above).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type ActionRun, type RunnerJob, runAction } from './runner.js';

interface CompositeStep {
  id?: string;
  if?: string;
  uses?: string;
  with?: Record<string, string>;
  run?: string;
  shell?: string;
}

interface CompositeYaml {
  inputs?: Record<string, { default?: string }>;
  runs: { using: string; steps: CompositeStep[] };
}

export interface CompositeRun {
  /** Steps that ran, by id (or index), with their outputs. */
  steps: Record<string, { outputs: Record<string, string>; run?: ActionRun; skipped: boolean }>;
  /** The action runs (uses: steps) in order. */
  actions: ActionRun[];
  /** Whether every step succeeded. */
  ok: boolean;
  log: string;
}

const USES = /^casd-action\/casd-action\/(restore|save)@\S+$/;

/** Runs the composite action in `actionYaml` with `inputs` in `job`. */
export async function runComposite(
  actionYaml: string,
  options: { job: RunnerJob; inputs?: Record<string, string>; env?: Record<string, string> },
): Promise<CompositeRun> {
  const action = parseYaml(readFileSync(actionYaml, 'utf8')) as CompositeYaml;
  if (action.runs.using !== 'composite') throw new Error(`${actionYaml} is not a composite action`);
  const inputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(action.inputs ?? {})) inputs[name] = spec.default ?? '';
  Object.assign(inputs, options.inputs ?? {});
  const result: CompositeRun = { steps: {}, actions: [], ok: true, log: '' };
  let previous: ActionRun | undefined;
  const value = (expression: string): string => {
    const path = expression.trim().split('.');
    if (path[0] === 'inputs') return inputs[path[1] ?? ''] ?? '';
    if (path[0] === 'steps' && path[2] === 'outputs')
      return result.steps[path[1] ?? '']?.outputs[path[3] ?? ''] ?? '';
    throw new Error(`unsupported expression ${expression}`);
  };
  const substitute = (text: string): string => text.replace(/\$\{\{([^}]*)\}\}/g, (_, e: string) => value(e));
  const condition = (text: string | undefined): boolean => {
    if (!text || text.trim() === 'success()') return result.ok;
    if (text.trim() === 'always()') return true;
    const match = /^\s*(.+?)\s*(==|!=)\s*'([^']*)'\s*$/.exec(text.replace(/^\$\{\{|\}\}$/g, ''));
    if (!match) throw new Error(`unsupported if: ${text}`);
    const equal = value(match[1]!) === match[3];
    return result.ok && (match[2] === '==' ? equal : !equal);
  };
  for (const [index, step] of action.runs.steps.entries()) {
    const id = step.id ?? String(index);
    if (!condition(step.if)) {
      result.steps[id] = { outputs: {}, skipped: true };
      continue;
    }
    if (step.uses) {
      const sub = USES.exec(step.uses)?.[1] as 'restore' | 'save' | undefined;
      if (!sub) throw new Error(`unsupported uses: ${step.uses}`);
      const withValues = Object.fromEntries(
        Object.entries(step.with ?? {}).map(([k, v]) => [k, substitute(String(v))]),
      );
      const run = await runAction(sub, {
        job: options.job,
        after: previous,
        inputs: withValues,
        env: options.env,
      });
      result.actions.push(run);
      result.steps[id] = { outputs: run.outputs, run, skipped: false };
      result.log += run.stdout + run.stderr;
      previous = run;
      if (run.exitCode !== 0) result.ok = false;
    } else if (step.run) {
      const env = { ...process.env, ...options.env, ...(previous?.jobEnv ?? {}) };
      if (previous?.jobPaths.length) env.PATH = [...previous.jobPaths, env.PATH ?? ''].join(delimiter);
      const shell = spawnSync('bash', ['-e', '-c', substitute(step.run)], {
        cwd: options.job.workspace,
        env,
        encoding: 'utf8',
      });
      result.log += shell.stdout + shell.stderr;
      result.steps[id] = { outputs: {}, skipped: false };
      if (shell.status !== 0) result.ok = false;
    }
  }
  return result;
}
