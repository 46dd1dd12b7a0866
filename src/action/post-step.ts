import * as core from '@actions/core';
import { CasdDaemon, getUsage, tailLog } from '../casd/index.js';
import { type Digest, formatDigest } from '../cas/digest.js';
import { RefStore } from '../cas/refs.js';
import { pushRef } from '../cas/remote-refs.js';
import { Remote, type RemoteSpec } from '../cas/remote.js';
import { CasStore } from '../cas/store.js';
import { describeError, isCasError } from '../errors.js';
import { formatEndpoint } from '../grpc/endpoint.js';
import { withDeadline } from '../util/deadline.js';
import type { ActionConfig } from './inputs.js';
import { type JobStatusResult, readJobStatus } from './job-status.js';
import { capturePaths } from './key-tree.js';
import { keyRef, restoreKeyRef, statsRef } from './keys.js';
import { actionsLogger } from './logger.js';
import { pushAllowed, readConfig } from './main-step.js';
import { savePersisted } from './persist/index.js';
import { type RunReport, type RunStats, timed } from './report.js';
import { unlockCacheDir } from './cache-lock.js';
import { removeSecretFiles } from './secret-files.js';
import { loadMainState, type MainState } from './state.js';
import { describeEarlyExit, renderSummary } from './summary.js';

interface PostContext {
  config: ActionConfig;
  state: MainState;
  report: RunReport;
  /** A phase hit its deadline: casd is likely stuck on the remote too. */
  timedOut?: boolean;
}

/**
 * How long a daemon that may be stuck on a hung remote gets after SIGTERM. Why: casd waits
 * for its in-flight calls before exiting, and a stalled remote would add the full 15 s
 * shutdown wait to the post step; its store is safe to kill (objects land by rename).
 */
const STUCK_DAEMON_TERM_MS = 2_000;

async function guarded<T>(ctx: PostContext, what: string, body: () => Promise<T>): Promise<T | undefined> {
  try {
    return await body();
  } catch (err) {
    if (isCasError(err, 'timeout')) ctx.timedOut = true;
    const message = `${what}: ${describeError(err)}`;
    ctx.report.warnings.push(message);
    core.warning(message);
    return undefined;
  }
}

function remoteSpec(config: ActionConfig, readOnly: boolean): RemoteSpec {
  const remote = config.remote!;
  return {
    url: remote.endpoint.text,
    instanceName: remote.instanceName,
    serverCert: remote.serverCert,
    clientCert: remote.clientCert,
    clientKey: remote.clientKey,
    token: remote.token,
    tokenFile: remote.tokenFile,
    assetUrl: remote.assetEndpoint?.text,
    readOnly,
  };
}

/** Whether refs may be published, and the sentence the summary says about it. */
function refDecision(
  config: ActionConfig,
  jobStatus: JobStatusResult | undefined,
): { commit: boolean; note: string } {
  if (config.saveRefs === 'always') return { commit: true, note: 'save-refs is always' };
  if (!jobStatus) return { commit: false, note: 'the job status was not read' };
  switch (jobStatus.status) {
    case 'success':
      return { commit: true, note: 'the job succeeded' };
    case 'unknown':
      return {
        commit: true,
        note: `the job status is unknown (${jobStatus.detail}); committed as if it succeeded`,
      };
    default:
      return {
        commit: false,
        note: `the job ${jobStatus.status === 'failure' ? 'failed' : 'was cancelled'} and save-refs is on-success (blobs were still pushed)`,
      };
  }
}

async function readPreviousStats(
  store: CasStore,
  refs: RefStore,
  key: string,
): Promise<RunStats | undefined> {
  try {
    const digest = await refs.resolve(statsRef(key));
    const { readFile } = await import('node:fs/promises');
    return JSON.parse(await readFile(store.objectPath(digest), 'utf8')) as RunStats;
  } catch {
    return undefined;
  }
}

/** Capture, push blobs, publish refs, record stats: everything that needs the live daemon. */
async function withDaemon(ctx: PostContext, daemon: CasdDaemon): Promise<void> {
  const { config, report } = ctx;
  const stats = report.stats;
  const connection = daemon.connection();
  // skipUpload: a proxying daemon would upload during capture; pushing is our measured step.
  const store = new CasStore({
    cacheDir: config.cacheDir,
    connection,
    skipUpload: true,
    logger: actionsLogger,
  });
  const refs = new RefStore(config.cacheDir);
  await store.checkLayout();

  let keyRoot: Digest | undefined;
  if (config.key && config.paths.length > 0) {
    const captured = await guarded(ctx, 'capturing path', () =>
      timed(stats, 'capture', () => capturePaths(store, config.paths)),
    );
    if (captured && captured.captured.length === 0) {
      ctx.report.warnings.push(
        `none of the paths exist (${config.paths.join(', ')}); nothing saved under key ${config.key}`,
      );
    } else if (captured) {
      keyRoot = captured.root;
      for (const path of captured.missing) core.info(`Path ${path} does not exist; not saved`);
    }
  }
  const unchanged =
    keyRoot !== undefined && ctx.state.cacheHit && ctx.state.restoredKeyRoot === formatDigest(keyRoot);
  if (unchanged) core.info(`Cache hit on key ${config.key} and nothing changed: not saving`);
  const previous = config.key ? await readPreviousStats(store, refs, config.key) : undefined;
  report.previous = previous;

  const jobStatus =
    config.saveRefs === 'on-success' && keyRoot && !unchanged
      ? await readJobStatus(process.env, config.githubToken)
      : undefined;
  report.jobStatus = jobStatus;
  const decision = refDecision(config, jobStatus);

  const push = config.remote !== undefined && !ctx.state.remoteUnavailable && (await pushAllowed(config));
  let remote: Remote | undefined;
  let blobsPushed = false;
  if (push && keyRoot && !unchanged) {
    await guarded(ctx, 'pushing blobs', () =>
      timed(stats, 'push blobs', () =>
        withDeadline('pushing blobs', config.saveTimeoutMs, async () => {
          remote = await Remote.register(connection, remoteSpec(config, false), {
            store,
            logger: actionsLogger,
            tempDir: process.env.RUNNER_TEMP,
          });
          const result = await remote.pushDirectory(keyRoot!);
          stats.blobsChecked += result.blobsChecked;
          stats.blobsMissing += result.blobsMissing;
          stats.blobsUploaded += result.blobsUploaded;
          stats.bytesUploaded += result.bytesUploaded;
          blobsPushed = true;
        }),
      ),
    );
  } else if (config.remote && ctx.state.remoteUnavailable) {
    core.info('The remote was unavailable at start: nothing pushed');
  } else if (config.remote && !push) {
    core.info('Pushing is off (read-only, push: false, or a pull request from a fork)');
  }

  report.refsCommitted = false;
  report.refsNote = decision.note;
  if (keyRoot && !unchanged && decision.commit) {
    const names = [keyRef(config.key!), ...config.restoreKeys.map(restoreKeyRef)];
    for (const name of names) await refs.set(name, keyRoot);
    report.refsCommitted = true;
    if (remote && blobsPushed) {
      await guarded(ctx, 'publishing refs', () =>
        timed(stats, 'push refs', () =>
          withDeadline('publishing refs', config.saveTimeoutMs, async () => {
            for (const name of names) {
              if (await pushRef(remote!, name, keyRoot!)) report.refsPushed.push(name);
            }
          }),
        ),
      );
    }
    report.refsNote = `${decision.note}; saved ${config.key}${report.refsPushed.length ? ' locally and on the remote' : ' locally'}`;
  } else if (unchanged) {
    report.refsNote = 'exact hit and nothing changed';
  } else if (!keyRoot) {
    report.refsNote = 'no key to save';
  }
  await remote?.close();

  const usage = await getUsage(connection).catch(() => undefined);
  if (usage) {
    stats.usedBytes = usage.usedBytes;
    stats.quotaBytes = usage.quotaBytes;
  }
  if (config.key && keyRoot && report.refsCommitted) {
    await guarded(ctx, 'recording stats', async () => {
      const digest = await store.addObject({ buffer: Buffer.from(JSON.stringify(stats)) });
      await refs.set(statsRef(config.key!), digest);
    });
  }
}

/**
 * The post step (runs even when the job failed): capture `path`, push what the remote lacks,
 * publish refs when allowed, stop the daemon, persist the local cache, write the summary.
 */
export async function postStep(): Promise<void> {
  const state = loadMainState();
  if (!state) {
    core.info('casd-action: the main step did not start the cache; nothing to save');
    return;
  }
  const inputs = readConfig();
  const config = { ...inputs, cacheDir: state.cacheDir ?? inputs.cacheDir };
  const report: RunReport = {
    casdVersion: state.casdVersion,
    remote: config.remote ? formatEndpoint(config.remote.endpoint) : undefined,
    stats: state.stats,
    matchedKey: state.matchedKey,
    cacheHit: state.cacheHit,
    refsRestored: state.refsRestored,
    refsMissing: state.refsMissing,
    refsPushed: [],
    refsCommitted: false,
    refsNote: 'no key to save',
    warnings: [...state.warnings],
  };
  const ctx: PostContext = { config, state, report };
  const stats = report.stats;

  if (state.daemon) {
    const daemon = CasdDaemon.attach(state.daemon, actionsLogger);
    await guarded(ctx, 'saving', () => withDaemon(ctx, daemon));
    const exit = await timed(stats, 'daemon stop', () =>
      daemon.stop(ctx.timedOut ? { termTimeoutMs: STUCK_DAEMON_TERM_MS } : {}),
    );
    report.daemonExit = {
      exitCode: exit.exitCode,
      signal: exit.signal,
      killed: exit.killed,
      diedEarly: exit.diedEarly,
      logPath: exit.logPath,
    };
    if (exit.diedEarly) report.warnings.push(`${describeEarlyExit(exit)}; log: ${exit.logPath}`);
    if (exit.killed || exit.diedEarly || exit.signal !== null || (exit.exitCode ?? 0) !== 0) {
      core.startGroup('buildbox-casd log (last lines)');
      core.info(tailLog(exit.logPath, 50));
      core.endGroup();
    }
  }

  if (config.saveLocalCache && state.persistPrefix) {
    const saved = await guarded(ctx, 'saving the local cache to the Actions cache', () =>
      timed(stats, 'save local cache', () =>
        savePersisted({
          cacheDir: config.cacheDir,
          prefix: state.persistPrefix!,
          timeoutMs: config.saveTimeoutMs,
          failOnError: config.failOnCacheError,
          logger: actionsLogger,
        }),
      ),
    );
    if (saved) {
      stats.persistBytesUploaded = saved.bytesUploaded;
      report.warnings.push(...saved.warnings);
    }
  }
  await removeSecretFiles(state.secretsDir);
  if (state.lock) await unlockCacheDir(state.lock.dir, state.lock.job);

  await core.summary.addRaw(renderSummary(report)).write();
  if (config.failOnCacheError && report.warnings.length > 0) {
    throw new Error(`cache trouble (fail-on-cache-error is set): ${report.warnings.join('; ')}`);
  }
}
