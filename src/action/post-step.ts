import { rm } from 'node:fs/promises';
import * as core from '@actions/core';
import { CasdDaemon, getUsage, tailLog } from '../casd/index.js';
import { type Digest, parseDigest, sameDigest } from '../cas/digest.js';
import type { Connection } from '../grpc/connection.js';
import { RefStore } from '../cas/store/refs.js';
import { pushRef, resolveRemoteRef } from '../cas/remote/remote-refs.js';
import { Remote } from '../cas/remote/remote.js';
import { CasStore } from '../cas/store/store.js';
import { formatEndpoint } from '../grpc/endpoint.js';
import { withDeadline } from '../util/deadline.js';
import { jobTempDir } from '../util/temp.js';
import type { ActionConfig } from './inputs.js';
import { type JobStatusResult, readJobStatus } from './job-status.js';
import { absolutePath } from '../cas/entries/paths.js';
import { pathRoots, resolvePatterns } from './cache-paths.js';
import { type CapturedPaths, capturePaths, storeEntry } from '../cas/entries/entry-tree.js';
import { checkLinkWrites } from './link-writes.js';
import { keyPrefixes, keyRef, POINTER_REF_PREFIX, pointerRef, statsRef } from './keys.js';
import { actionsLogger } from './logger.js';
import { pushAllowed, readConfig } from './config.js';
import { remoteSpecFrom } from '../settings/remote.js';
import { failIfTroubled, guarded, troublePolicy } from './guard.js';
import { savePersisted } from './persist/index.js';
import { type RunReport, type RunStats, timed } from './report.js';
import { unlockCacheDir } from './cache-lock.js';
import { remoteDescription, removeSecretFiles, secretFilePaths } from './secret-files.js';
import { removeSessionRecord } from './session-record.js';
import { restoreSkippedPersist, saveSkipped } from './lookup.js';
import { loadMainState, type MainState } from './state.js';
import { describeEarlyExit, renderSummary } from './summary.js';
import { MAX_PRESENT_TREES, STUCK_DAEMON_TERM_MS } from './options.js';
import { CasError } from '../errors.js';

interface PostContext {
  config: ActionConfig;
  state: MainState;
  report: RunReport;
  /** The job status, when its read was started early (startJobStatusRead). */
  jobStatusRead?: Promise<JobStatusResult>;
}

/**
 * Starts reading the job status while the capture runs, when a save will probably want it:
 * the read is a request of ~0.25 s to the REST API, and a capture is local work. Not on a key
 * hit, whose post step usually saves nothing and so needs no request.
 */
function startJobStatusRead(ctx: PostContext): void {
  if (ctx.config.saveRefs !== 'on-success' || ctx.state.cacheHit) return;
  // Caught here: a capture that fails leaves this promise unawaited.
  ctx.jobStatusRead = readJobStatus(process.env, ctx.config.githubToken).catch(
    (err: unknown): JobStatusResult => ({
      status: 'unknown',
      detail: `the jobs API answer could not be read: ${(err as Error).message}`,
    }),
  );
}

/**
 * Whether refs may be published, and the sentence the summary says about it. `onlyNew`: the
 * job may have failed, so publish keys that do not exist yet but replace none that does.
 */
function refDecision(
  config: ActionConfig,
  jobStatus: JobStatusResult | undefined,
): { commit: boolean; onlyNew?: boolean; note: string } {
  if (config.saveRefs === 'always') return { commit: true, note: 'save-refs is always' };
  if (!jobStatus) return { commit: false, note: 'the job status was not read' };
  switch (jobStatus.status) {
    case 'success':
      return { commit: true, note: 'the job succeeded' };
    case 'unknown':
      return {
        commit: true,
        onlyNew: true,
        note: `the job status is unknown (${jobStatus.detail}); only keys that did not exist yet were saved`,
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

/**
 * Resolves the `path` patterns (as actions/cache does; a pattern that matches nothing is a
 * warning and a summary line) and captures what they match into one entry tree; undefined
 * (with the reason in the summary) when nothing was.
 */
async function captureKey(
  ctx: PostContext,
  store: CasStore,
  remote: () => Promise<Remote | undefined>,
): Promise<CapturedPaths | undefined> {
  const { config, report } = ctx;
  const roots = pathRoots();
  const captured = await guarded(ctx.report, 'capturing path', () =>
    timed(report.stats, 'capture', async () => {
      const resolved = await resolvePatterns(config.paths, roots);
      for (const pattern of resolved.unmatched) {
        core.warning(
          `path pattern ${pattern} matches nothing (workspace ${roots.workspace}); nothing of it is saved`,
        );
      }
      if (resolved.unmatched.length) report.pathsUnmatched = resolved.unmatched;
      // Into a pack when it is persisted or pushed (pushes read packs; without either, casd's
      // objects are the local cache a later job on this disk finds). The quota's headroom
      // bounds it, as casd's quota bounds a capture through casd.
      const intoPack = config.saveLocalCache || config.remote !== undefined;
      const usage = intoPack ? await getUsage(store.connection).catch(() => undefined) : undefined;
      const packMaxBytes = usage?.quotaBytes ? Math.max(0, usage.quotaBytes - usage.usedBytes) : undefined;
      const spec = { key: config.key!, patterns: config.paths, paths: resolved.paths };
      // Files a restore wrote straight from the remote have their blobs there, not here; a
      // persisted local cache needs them here (so they are hashed again).
      const remoteMissingBlobs = config.saveLocalCache
        ? undefined
        : async (digests: Digest[]): Promise<Digest[]> => {
            const pushTo = await remote();
            return pushTo ? pushTo.remoteMissingBlobs(digests) : digests;
          };
      return capturePaths(store, spec, roots, Date.now(), { intoPack, packMaxBytes, remoteMissingBlobs });
    }),
  );
  if (!captured) {
    report.refsNote = `capturing path failed, so nothing was saved under key ${config.key}`;
    return undefined;
  }
  if (captured.captured.length === 0) {
    const message = `none of the paths exist (${config.paths.join(', ')}); nothing saved under key ${config.key}`;
    report.warnings.push(message);
    report.refsNote = message;
    return undefined;
  }
  for (const path of captured.missing) core.info(`Path ${absolutePath(path, roots)} vanished; not saved`);
  return captured;
}

/** The job's secret files: main writes them whenever a remote is set. */
function secretsDirOf(ctx: PostContext): string {
  if (!ctx.state.secretsDir) {
    throw new CasError(
      'invalid-input',
      'the main step recorded no credential files for the remote; nothing pushed',
    );
  }
  return ctx.state.secretsDir;
}

/** Registers the remote for pushing, or says why there is none. */
async function connectRemote(
  ctx: PostContext,
  connection: Connection,
  store: CasStore,
): Promise<Remote | undefined> {
  const { config, state } = ctx;
  if (!config.remote) return undefined;
  if (state.remoteUnavailable) {
    core.info('The remote was unavailable at start: nothing pushed');
    return undefined;
  }
  if (!(await pushAllowed(config))) {
    core.info('Pushing is off (read-only, push: false, or a pull request from a fork)');
    return undefined;
  }
  return guarded(ctx.report, 'connecting to the remote', () =>
    withDeadline('connecting to the remote', config.saveTimeoutMs, () =>
      Remote.register(
        connection,
        // The remote as main described it: its TLS material and token as the job's files.
        remoteSpecFrom(
          remoteDescription(config.remote!, secretFilePaths(config.remote!, secretsDirOf(ctx)), false),
        ),
        {
          store,
          logger: actionsLogger,
          tempDir: jobTempDir(),
        },
      ),
    ),
  );
}

/**
 * Whether the remote publishes `root` (the entry restored) under the key: a local hit can hide
 * a miss there.
 */
async function remoteHoldsKey(ctx: PostContext, remote: Remote, root: Digest): Promise<boolean> {
  const published = await guarded(ctx.report, 'looking up the key on the remote', () =>
    withDeadline('looking up the key on the remote', ctx.config.saveTimeoutMs, () =>
      resolveRemoteRef(remote, keyRef(ctx.config.key!)),
    ),
  );
  return published !== undefined && sameDigest(published, root);
}

/**
 * The trees the remote vouches for right now under the refs this save relates to (see
 * PushOptions.presentTrees): most of a new save is usually in one of them already. A lookup
 * that fails only means more is asked about.
 */
async function presentTrees(ctx: PostContext, remote: Remote): Promise<Digest[]> {
  const { config, state } = ctx;
  const names = new Set<string>([keyRef(config.key!)]);
  if (state.matchedKey) names.add(keyRef(state.matchedKey));
  const prefixes = keyPrefixes(config.key!, config.restoreKeys).sort((a, b) => b.length - a.length);
  for (const prefix of prefixes) names.add(pointerRef(prefix, config.paths));
  const roots: Digest[] = [];
  for (const name of [...names].slice(0, MAX_PRESENT_TREES)) {
    try {
      const root = await resolveRemoteRef(remote, name);
      if (root && !roots.some((r) => sameDigest(r, root))) roots.push(root);
    } catch (err) {
      core.debug(`looking up ${name} on the remote before pushing: ${(err as Error).message}`);
    }
  }
  return roots;
}

/** Pushes the tree's blobs the remote lacks; true when all of them are there now. */
async function pushBlobs(ctx: PostContext, remote: Remote, root: Digest): Promise<boolean> {
  const { stats } = ctx.report;
  const pushed = await guarded(ctx.report, 'pushing blobs', () =>
    timed(stats, 'push blobs', () =>
      withDeadline('pushing blobs', ctx.config.saveTimeoutMs, async () =>
        remote.pushDirectory(root, { presentTrees: await presentTrees(ctx, remote) }),
      ),
    ),
  );
  if (!pushed) return false;
  stats.blobsChecked += pushed.blobsChecked;
  stats.blobsSkipped += pushed.blobsSkipped;
  stats.blobsMissing += pushed.blobsMissing;
  stats.blobsUploaded += pushed.blobsUploaded;
  stats.bytesUploaded += pushed.bytesUploaded;
  return true;
}

/**
 * Saves the key: blobs to the remote first (even for a failed job), then the refs (the key and
 * a pointer per restore-key prefix) locally and on the remote when the job succeeded or
 * save-refs is always, then the stats record for the next run's trend.
 */
async function saveKey(
  ctx: PostContext,
  refs: RefStore,
  remote: Remote | undefined,
  root: Digest,
): Promise<void> {
  const { config, report } = ctx;
  const jobStatus =
    config.saveRefs === 'on-success'
      ? await (ctx.jobStatusRead ?? readJobStatus(process.env, config.githubToken))
      : undefined;
  report.jobStatus = jobStatus;
  const decision = refDecision(config, jobStatus);
  const blobsPushed = remote ? await pushBlobs(ctx, remote, root) : false;
  report.refsNote = decision.note;
  if (!decision.commit) return;

  // The key, and a pointer per prefix of it (keyPrefixes) naming this entry as the newest.
  const wanted = new Map<string, string>([
    [keyRef(config.key!), `key ${config.key}`],
    ...keyPrefixes(config.key!, config.restoreKeys).map((prefix): [string, string] => [
      pointerRef(prefix, config.paths),
      prefix,
    ]),
  ]);
  const names = decision.onlyNew ? await refsNotYetSet(ctx, refs, remote, wanted, root) : [...wanted.keys()];
  if (names.length === 0) {
    report.refsNote = `${decision.note}; ${config.key} exists already and was not replaced`;
    return;
  }
  for (const name of names) await refs.set(name, root);
  report.refsCommitted = true;
  // Only a ref whose every blob is on the remote is published there.
  if (remote && blobsPushed) {
    await guarded(ctx.report, 'publishing refs', () =>
      timed(report.stats, 'push refs', () =>
        withDeadline('publishing refs', config.saveTimeoutMs, async () => {
          for (const name of names) {
            if (!(await pushRef(remote, name, root))) continue;
            if (name.startsWith(POINTER_REF_PREFIX)) report.pointersPushed = (report.pointersPushed ?? 0) + 1;
            else report.refsPushed.push(name);
          }
        }),
      ),
    );
  }
  const where = report.refsPushed.length || report.pointersPushed ? ' locally and on the remote' : ' locally';
  report.refsNote = `${decision.note}; saved ${config.key}${where}`;
}

/** Stands for a ref the remote could not be asked about: it may exist, so it counts as existing. */
const UNREADABLE_REF: Digest = { hash: '', sizeBytes: -1 };

/**
 * Of `names`, those that exist nowhere yet (locally, which includes what the Actions cache
 * restored, or on the remote) or already hold `root`: an unknown job must never replace a good
 * value. Says which were kept as a warning that names the missing permission.
 */
async function refsNotYetSet(
  ctx: PostContext,
  refs: RefStore,
  remote: Remote | undefined,
  names: Map<string, string>,
  root: Digest,
): Promise<string[]> {
  const free: string[] = [];
  const kept: string[] = [];
  for (const name of names.keys()) {
    let existing = await refs.resolve(name).catch(() => undefined);
    if (!existing && remote) {
      existing = await withDeadline(`looking up ${name} on the remote`, ctx.config.saveTimeoutMs, () =>
        resolveRemoteRef(remote, name),
      ).catch(() => UNREADABLE_REF);
    }
    if (existing && !sameDigest(existing, root)) kept.push(name);
    else free.push(name);
  }
  const why = `the job status could not be read (${ctx.report.jobStatus?.detail ?? 'unknown'}), so the job may have failed`;
  const fix =
    'grant the job `permissions: actions: read` so that the post step can tell a successful job from a failed one';
  const isPointer = (name: string): boolean => name.startsWith(POINTER_REF_PREFIX);
  const label = (list: string[]): string => list.map((name) => names.get(name)).join(', ');
  const keysKept = kept.filter((name) => !isPointer(name));
  const pointersKept = kept.filter(isPointer);
  // A pointer says "the newest entry under this prefix": with the key kept, there is no entry
  // of this job to point at.
  const saved = keysKept.length ? [] : free;
  const pointerNote = pointersKept.length
    ? `; ${pointersKept.length} restore-key pointer(s) that name another entry were kept (${label(pointersKept)})`
    : '';
  const message = keysKept.length
    ? `${why}: not replacing ${label(keysKept)}, which already exists (and no restore-key pointer was set); ${fix}`
    : `${why}: saved ${label(free.filter((name) => !isPointer(name)))}, which did not exist yet (an existing key would not have been replaced)${pointerNote}; ${fix}`;
  // Not a report warning: it is not cache trouble, and must not fail a fail-on-cache-error job.
  core.warning(message);
  return saved;
}

/** Capture, push blobs, publish refs, record stats: everything that needs the live daemon. */
async function withDaemon(ctx: PostContext, daemon: CasdDaemon): Promise<void> {
  const { config, report, state } = ctx;
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
  // First, before anything is captured, pushed or persisted: objects damaged through links.
  await guarded(ctx.report, 'checking files restored as links', () => checkLinkWrites(store, ctx.report));

  const saving = config.key && config.paths.length > 0 && !saveSkipped(config, state);
  if (saving) startJobStatusRead(ctx);
  // Connected once, when first needed: by the capture (see captureKey) or to push.
  let connecting: Promise<Remote | undefined> | undefined;
  const pushRemote = (): Promise<Remote | undefined> =>
    (connecting ??= connectRemote(ctx, connection, store));
  const captured = saving ? await captureKey(ctx, store, pushRemote) : undefined;
  const keyRoot = captured?.root;
  report.previous = config.key ? await readPreviousStats(store, refs, config.key) : undefined;
  const remote = keyRoot ? await pushRemote() : undefined;
  if (!keyRoot && connecting) await (await connecting)?.close();
  try {
    // Each capture records its save time, so an unchanged one has a new root but the same content.
    let unchanged =
      captured !== undefined && state.cacheHit && state.restoredKeyContent === captured.contentId;
    if (unchanged && remote && !(await remoteHoldsKey(ctx, remote, parseDigest(state.restoredKeyRoot!)))) {
      core.info(`Key ${config.key} was an exact hit locally but the remote lacks it: pushing it`);
      unchanged = false;
    }
    if (unchanged) {
      core.info(`Cache hit on key ${config.key} and nothing changed: not saving`);
      report.refsNote = 'exact hit and nothing changed';
    } else if (captured && keyRoot) {
      await storeEntry(store, captured);
      await saveKey(ctx, refs, remote, keyRoot);
    }
  } finally {
    await remote?.close();
  }

  const usage = await getUsage(connection).catch(() => undefined);
  if (usage) {
    stats.usedBytes = usage.usedBytes;
    stats.quotaBytes = usage.quotaBytes;
  }
  if (config.key && keyRoot && report.refsCommitted) {
    await guarded(ctx.report, 'recording stats', async () => {
      const digest = await store.addObject({ buffer: Buffer.from(JSON.stringify(stats)) });
      await refs.set(statsRef(config.key!), digest);
    });
  }
}

/** Stops the daemon; reports how it ended and shows its log when it ended badly. */
async function stopDaemon(ctx: PostContext, daemon: CasdDaemon): Promise<void> {
  const { report } = ctx;
  const exit = await timed(report.stats, 'daemon stop', () =>
    daemon.stop(ctx.report.timedOut ? { termTimeoutMs: STUCK_DAEMON_TERM_MS } : {}),
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
  if (state.failedOnMiss) {
    core.info(
      'casd-action: fail-on-cache-miss failed the main step, which stopped the cache; nothing to save',
    );
    return;
  }
  await finishSession(state, readConfig());
}

/**
 * Everything the post step does, for the session `state` that a main (or restore) step left
 * and the `inputs` to save with: the post step's own, or the save sub-action's over restore's.
 */
export async function finishSession(state: MainState, inputs: ActionConfig): Promise<void> {
  // The cache directory in use (the remote is reached through the files main wrote).
  const config: ActionConfig = { ...inputs, cacheDir: state.cacheDir ?? inputs.cacheDir };
  const policy = troublePolicy(config, 'post');
  const report: RunReport = {
    casdVersion: state.casdVersion,
    remote: config.remote ? formatEndpoint(config.remote.endpoint) : undefined,
    stats: state.stats,
    matchedKey: state.matchedKey,
    cacheHit: state.cacheHit,
    lookupOnly: config.lookupOnly,
    refsRestored: state.refsRestored,
    refsMissing: state.refsMissing,
    refsPushed: [],
    refsCommitted: false,
    refsNote: 'no key to save',
    warnings: [...state.warnings],
  };
  const ctx: PostContext = { config, state, report };
  const stats = report.stats;
  const skipped = saveSkipped(config, state);
  if (skipped) {
    core.info(skipped);
    report.refsNote = skipped;
  }

  if (state.daemon) {
    const daemon = CasdDaemon.attach(state.daemon, actionsLogger);
    await guarded(ctx.report, 'saving', () => withDaemon(ctx, daemon));
    await stopDaemon(ctx, daemon);
  }

  const persist =
    config.saveLocalCache &&
    state.persistPrefix &&
    !skipped &&
    (!config.lookupOnly || (await restoreSkippedPersist(config, state, report)));
  if (persist) {
    const saved = await guarded(ctx.report, 'saving the local cache to the Actions cache', () =>
      timed(stats, 'save local cache', () =>
        savePersisted({
          cacheDir: config.cacheDir,
          prefix: state.persistPrefix!,
          timeoutMs: config.saveTimeoutMs,
          policy: troublePolicy(config, 'post'),
          logger: actionsLogger,
        }),
      ),
    );
    if (saved) {
      stats.persistBytesUploaded = saved.bytesUploaded;
      report.warnings.push(...saved.warnings);
      if (saved.indexKey)
        core.info(
          `Saved the local cache as ${saved.indexKey} (${saved.packsUploaded} new pack(s), ${saved.blobsPacked} blobs)`,
        );
      if (saved.readOnly) {
        report.actionsCacheReadOnly = saved.readOnly;
        core.notice(
          `The Actions cache is read-only for this run (${saved.readOnly}): the local cache was restored from it but not saved`,
        );
      }
    }
  }
  await removeSecretFiles(state.secretsDir);
  await removeSessionRecord(config.cacheDir);
  if (state.lock) await unlockCacheDir(state.lock.dir, state.lock.job);
  // A private directory (another job held the shared one) has nothing to offer a later job.
  if (config.cacheDir !== inputs.cacheDir) await rm(config.cacheDir, { recursive: true, force: true });

  await core.summary.addRaw(renderSummary(report)).write();
  failIfTroubled(report, policy);
}
