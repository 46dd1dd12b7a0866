import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { casdBinary, startTestCasd, type TestCasd } from '../helpers/casd.js';
import { startReleaseServer } from '../helpers/release.js';
import { cliOk, tempDir } from '../cli/run-cli.js';
import {
  cleanPath,
  cliSourceRepo,
  commandLines,
  expandGitLabVariables,
  homeWithGitRedirect,
  interpolateBuildkite,
  interpolateBuildkiteEnv,
  override,
  processesMentioning,
  readmeRecipe,
  requireRecipeTools,
  runScript,
  type ShellRun,
  scriptLines,
  stringMap,
  writeProject,
} from './ci-shell.js';

// The README's GitLab and Buildkite recipes, run line for line with bash in an environment that
// has only PATH (node, coreutils, git, curl, tar, gcc, make), HOME and the CI's own variables.
// What this machine cannot reach is replaced through the recipes' variables, never their lines:
// the buildbox download URL and checksum point at a loopback server with a test tarball, the
// install directories at a temp dir, the remote at a loopback casd (grpc://, so no token), and
// git's `insteadOf` in the temp HOME sends the clone of the command to a local repository of
// this checkout's dist/.

const tmp = tempDir('recipes-');
let release: Awaited<ReturnType<typeof startReleaseServer>>;
let remote: TestCasd;
let cliRepo: string;

beforeAll(async () => {
  requireRecipeTools();
  release = await startReleaseServer();
  remote = await startTestCasd({ tcp: true });
  cliRepo = cliSourceRepo(join(tmp.dir, 'casd-action.git'));
  // deps/main on the remote, so the recipes' `pull deps/...` line fetches something.
  const deps = join(tmp.dir, 'deps');
  mkdirSync(deps);
  writeFileSync(join(deps, 'libdep.h'), '#define DEP 1\n');
  const seed = ['--cache-dir', join(tmp.dir, 'seed-cache'), '--remote', remote.url!];
  await cliOk(['capture', deps, '--ref', 'deps/main', ...seed]);
  await cliOk(['push', 'deps/main', ...seed]);
});

afterAll(async () => {
  await remote?.stop();
  await release?.stop();
  tmp.remove();
});

/** The object file that `ref` holds on the remote, pulled into a fresh cache. */
async function remoteObject(ref: string, name: string): Promise<Buffer> {
  const flags = ['--cache-dir', join(tmp.dir, `check-${name}`), '--remote', remote.url!];
  await cliOk(['pull', ref, ...flags]);
  const dest = join(tmp.dir, `checkout-${name}`);
  await cliOk(['checkout', ref, dest, ...flags]);
  return readFileSync(join(dest, 'hello.o'));
}

/** A bin directory holding only recc (beside the real casd), for `CC: recc gcc`. */
function reccBin(): string {
  const bin = join(tmp.dir, 'recc-bin');
  if (!existsSync(bin)) {
    mkdirSync(bin);
    symlinkSync(join(dirname(casdBinary()), 'recc'), join(bin, 'recc'));
  }
  return bin;
}

describe('README GitLab CI recipe', () => {
  const recipe = readmeRecipe('GitLab CI');
  const [jobName, job] = Object.entries(recipe).find(
    ([, value]) => typeof value === 'object' && value !== null && 'script' in value,
  ) as [string, Record<string, unknown>];
  const root = join(tmp.dir, 'gitlab');
  const project = join(root, 'project');
  const main = [...scriptLines(job, 'before_script'), ...scriptLines(job, 'script')];
  let variables: Record<string, string>;
  let run: ShellRun;
  let afterRun: ShellRun | undefined;

  // One job, as the runner would run it: variables expanded, before_script and script in one
  // shell (GitLab's bash: set -eo pipefail), after_script (if any) in another.
  beforeAll(async () => {
    writeProject(project);
    const predefined = {
      CI: 'true',
      GITLAB_CI: 'true',
      CI_PROJECT_DIR: project,
      CI_DEFAULT_BRANCH: 'main',
      CI_COMMIT_REF_SLUG: 'feature-x',
      CI_RUNNER_EXECUTABLE_ARCH: 'linux/amd64',
    };
    // No CACHE_TOKEN: a grpc:// remote takes none, so CASD_ACTION_TOKEN_FILE expands to nothing.
    const defined = override(
      {
        ...stringMap(recipe.variables, 'variables'),
        ...stringMap(job.variables ?? {}, `${jobName}.variables`),
      },
      {
        CASD_ACTION_REMOTE: remote.url!,
        CASD_CLI_DIR: join(root, 'opt', 'casd-action'),
        BUILDBOX_DIR: join(root, 'opt', 'buildbox'),
        BUILDBOX_URL: `${release.url}/releases/$BUILDBOX_VERSION/buildbox-x86_64-linux-gnu.tgz`,
        BUILDBOX_SHA256: release.sha256,
      },
    );
    variables = expandGitLabVariables(defined, predefined);
    const env = {
      PATH: cleanPath(),
      HOME: homeWithGitRedirect(join(root, 'home'), cliRepo),
      ...predefined,
      ...variables,
    };
    const found = execFileSync('bash', ['-c', 'command -v casd-action buildbox-casd recc || true'], { env });
    if (found.length > 0) throw new Error(`the clean PATH already has ${found.toString()}`);
    run = await runScript(main, {
      shellOptions: ['-e', '-o', 'pipefail'],
      env,
      cwd: project,
      traceFile: join(root, 'trace-main'),
    });
    const after = scriptLines(job, 'after_script');
    if (after.length > 0)
      afterRun = await runScript(after, {
        shellOptions: ['-e'],
        env,
        cwd: project,
        traceFile: join(root, 'trace-after'),
      });
  });

  it('runs on an image with Node 20 or newer', () => {
    const image = String(job.image);
    const major = /^node:(\d+)/.exec(image);
    expect(major, `${jobName}.image is ${image}`).not.toBeNull();
    expect(Number(major![1])).toBeGreaterThanOrEqual(20);
  });

  it('sends no token when CACHE_TOKEN is not defined', () => {
    expect(variables.CASD_ACTION_TOKEN_FILE).toBe('');
  });

  it('runs every line of the job in a clean shell', () => {
    expect(run.code, run.output).toBe(0);
    expect(
      commandLines(main).filter((line) => !run.ran.has(line)),
      run.output,
    ).toEqual([]);
    if (afterRun) expect(afterRun.code, afterRun.output).toBe(0);
  });

  it('installs buildbox-casd from the release download and pulls the deps', () => {
    expect(release.requests.map((r) => r.url)).toContain(
      `/releases/${variables.BUILDBOX_VERSION}/buildbox-x86_64-linux-gnu.tgz`,
    );
    expect(existsSync(variables.BUILDBOX_CASD)).toBe(true);
    expect(run.output).not.toContain('no deps yet');
  });

  it('publishes the build under app/<branch slug> on the remote', async () => {
    const push = JSON.parse(readFileSync(join(project, 'push.json'), 'utf8')) as {
      refs: { name: string; published: boolean }[];
    };
    expect(push.refs).toEqual([expect.objectContaining({ name: 'app/feature-x', published: true })]);
    expect(await remoteObject('app/feature-x', 'gitlab')).toEqual(
      readFileSync(join(project, 'build', 'hello.o')),
    );
  });

  it('leaves no daemon running when the job ends', () => {
    expect(existsSync(join(variables.CASD_ACTION_CACHE_DIR, 'casd-action-daemon.json'))).toBe(false);
    expect(processesMentioning(root)).toEqual([]);
  });
});

describe('README Buildkite recipe', () => {
  const recipe = readmeRecipe('Buildkite');
  const steps = recipe.steps as { command?: string }[];
  const raw = steps.find((step) => typeof step.command === 'string')?.command ?? '';

  /**
   * One build of the step on the agent whose home is `agent`, in a fresh checkout of a project
   * whose source prints `greeting` (a source of its own keeps each test's compiles apart).
   */
  async function build(agent: string, buildName: string, greeting: string) {
    const root = join(tmp.dir, 'buildkite', agent);
    const project = writeProject(join(root, 'builds', buildName), greeting);
    const uploadEnv = { BUILDKITE: 'true', BUILDKITE_BRANCH: 'main' };
    const block = override(stringMap(recipe.env, 'env'), {
      CASD_ACTION_REMOTE: remote.url!,
      CASD_ACTION_TOKEN_FILE: '',
      CASD_ACTION_CACHE_DIR: join(root, 'casd-cache'),
      CASD_CLI_DIR: join(root, 'casd-action-v1'),
      BUILDBOX_URL: `${release.url}/releases/\${BUILDBOX_VERSION}/buildbox-x86_64-linux-gnu.tgz`,
      BUILDBOX_SHA256: release.sha256,
      BUILDBOX_DIR: join(root, 'buildbox-${BUILDBOX_VERSION}'),
      CC: 'recc gcc',
    });
    const env: Record<string, string> = {
      PATH: cleanPath([reccBin()]),
      HOME: homeWithGitRedirect(join(root, 'home'), cliRepo),
      CI: 'true',
      BUILDKITE: 'true',
      BUILDKITE_BRANCH: 'main',
      BUILDKITE_BUILD_CHECKOUT_PATH: project,
      RECC_VERBOSE: '1',
      ...interpolateBuildkiteEnv(block, uploadEnv),
    };
    // The agent runs the command as `bash -e -c`; the upload turned each $$ into $.
    const lines = interpolateBuildkite(raw, uploadEnv).trimEnd().split('\n');
    const run = await runScript(lines, {
      shellOptions: ['-e'],
      env,
      cwd: project,
      traceFile: join(root, `trace-${buildName}`),
    });
    expect(run.code, run.output).toBe(0);
    return { run, lines, env, project, root };
  }

  it('escapes every variable of the command as $$', () => {
    expect(raw).not.toBe('');
    expect(raw.replace(/\$\$/g, '').match(/\$\S*/g)).toBeNull();
  });

  it('runs every line on a new agent, installing the command and buildbox-casd there', async () => {
    const { run, lines, env, root } = await build('agent-a', 'first', 'a');
    expect(
      commandLines(lines).filter((line) => !run.ran.has(line)),
      run.output,
    ).toEqual([]);
    expect(env.BUILDBOX_CASD).toBe(join(root, `buildbox-${env.BUILDBOX_VERSION}`, 'buildbox-casd'));
    expect(existsSync(env.BUILDBOX_CASD)).toBe(true);
  });

  it('publishes the build under app/<branch> and leaves no daemon', async () => {
    const { env, project, root } = await build('agent-e', 'first', 'e');
    expect(await remoteObject('app/main', 'buildkite')).toEqual(
      readFileSync(join(project, 'build', 'hello.o')),
    );
    expect(existsSync(join(env.CASD_ACTION_CACHE_DIR, 'casd-action-daemon.json'))).toBe(false);
    expect(processesMentioning(root)).toEqual([]);
  });

  it('downloads and clones nothing on the next build of the same agent', async () => {
    await build('agent-b', 'first', 'b');
    const downloads = release.requests.length;
    const { run, lines } = await build('agent-b', 'second', 'b');
    const install = lines.findIndex((line) => line.startsWith('if '));
    const body = commandLines(lines.slice(install + 1, lines.indexOf('fi', install))).map(
      (n) => n + install + 1,
    );
    expect(body.length).toBeGreaterThan(0);
    expect(commandLines(lines).filter((line) => !run.ran.has(line))).toEqual(body);
    expect(release.requests.length).toBe(downloads);
    expect(run.output).not.toContain('Cloning into');
  });

  it("gives a fresh agent recc's compile from the remote (an Action Cache hit)", async () => {
    const first = await build('agent-c', 'first', 'c');
    expect(first.run.output).not.toContain('Action Cache hit');
    const fresh = await build('agent-d', 'first', 'c');
    expect(fresh.run.output).toContain('Action Cache hit');
  });
});
