import { pullRef } from '../../cas/remote/bring-local.js';
import { formatDigest } from '../../cas/digest.js';
import { RefStore } from '../../cas/store/refs.js';
import { pushRef, resolveRemoteRef } from '../../cas/remote/remote-refs.js';
import { Remote } from '../../cas/remote/remote.js';
import { remoteSpec } from '../remote-spec.js';
import type { CasStore } from '../../cas/store/store.js';
import { CasError } from '../../errors.js';
import { formatBytes } from '../../util/size.js';
import { type Command, type CommandContext, UsageError } from '../command.js';
import type { RemoteSettings } from '../config.js';
import type { PulledRefJson, PullJson, PushedRefJson, PushJson } from '../json.js';
import { checkRefName, checkTarget } from '../ref-args.js';
import { withDaemon } from '../session.js';
import { openStore, resolveTarget } from './store.js';

function needRemote(ctx: CommandContext): RemoteSettings {
  if (!ctx.config.remote) {
    throw new UsageError(`${ctx.command} needs a remote: give --remote URL or set CASD_ACTION_REMOTE`);
  }
  return ctx.config.remote;
}

async function withRemote<T>(
  ctx: CommandContext,
  body: (store: CasStore, remote: Remote) => Promise<T>,
): Promise<T> {
  const settings = needRemote(ctx);
  return withDaemon(ctx.config, ctx.logger, async (daemon) => {
    const store = await openStore(daemon, ctx.logger);
    const remote = await Remote.register(daemon.connection(), remoteSpec(settings), {
      store,
      logger: ctx.logger,
    });
    try {
      return await body(store, remote);
    } finally {
      await remote.close();
    }
  });
}

export const pushCommand: Command = {
  name: 'push',
  summary: 'upload refs (only the blobs the remote lacks) and publish them',
  synopsis: 'push REF... --remote URL',
  description: [
    'For each local ref: asks the remote which blobs of its tree it lacks, uploads only those,',
    'then publishes the ref through Remote Asset (PushDirectory) so `pull` finds it. A remote',
    'without Remote Asset still gets the blobs (published: false). HASH/SIZE pushes a tree',
    "without publishing a name. Blobs the ref's current tree on the remote holds at the same",
    'path are not asked about (a random sample of them is).',
  ].join('\n'),
  options: {},
  optionHelp: {},
  positionals: [1, Infinity],
  async run(ctx) {
    const settings = needRemote(ctx);
    if (settings.readOnly)
      throw new UsageError('push writes to the remote; drop --read-only (CASD_ACTION_READ_ONLY)');
    for (const name of ctx.positionals) checkTarget(name);
    return withRemote(ctx, async (_store, remote) => {
      const refs = new RefStore(ctx.config.cacheDir);
      const progress = ctx.out.progress('pushing');
      const pushed: PushedRefJson[] = [];
      try {
        for (const name of ctx.positionals) {
          const root = await resolveTarget(refs, name);
          const isDigest = name === formatDigest(root);
          progress.phase(`pushing ${name}`);
          // The ref's current tree on the remote is the likeliest base of its new one.
          const previous = isDigest ? undefined : await resolveRemoteRef(remote, name).catch(() => undefined);
          const result = await remote.pushDirectory(root, {
            onUploaded: (blobs, bytes) => progress.add(blobs, bytes),
            presentTrees: previous ? [previous] : [],
          });
          const published = isDigest ? false : await pushRef(remote, name, root);
          pushed.push({
            name,
            digest: formatDigest(root),
            blobsChecked: result.blobsChecked,
            blobsSkipped: result.blobsSkipped,
            blobsMissing: result.blobsMissing,
            blobsUploaded: result.blobsUploaded,
            bytesUploaded: result.bytesUploaded,
            published,
          });
          ctx.out.line(
            `${name} ${formatDigest(root)}: uploaded ${result.blobsUploaded} blobs (${formatBytes(result.bytesUploaded)})` +
              `${published ? ', published' : ''}`,
          );
        }
      } catch (err) {
        progress.abandon();
        throw err;
      }
      progress.done();
      const json: PushJson = {
        remote: remote.spec.url,
        refs: pushed,
        blobsUploaded: pushed.reduce((sum, r) => sum + r.blobsUploaded, 0),
        bytesUploaded: pushed.reduce((sum, r) => sum + r.bytesUploaded, 0),
      };
      ctx.out.document(json);
      return 0;
    });
  },
};

export const pullCommand: Command = {
  name: 'pull',
  summary: 'fetch refs from the remote (only the blobs the local cache lacks)',
  synopsis: 'pull REF... --remote URL',
  description: [
    'For each ref: resolves it on the remote through Remote Asset (FetchDirectory), fetches',
    'the Directories and files the local cache lacks, and sets the local ref. Fails when the',
    'remote does not know a ref.',
  ].join('\n'),
  options: {},
  optionHelp: {},
  positionals: [1, Infinity],
  async run(ctx) {
    needRemote(ctx);
    for (const name of ctx.positionals) checkRefName(name);
    return withRemote(ctx, async (store, remote) => {
      const refs = new RefStore(ctx.config.cacheDir);
      const progress = ctx.out.progress('pulling');
      const pulled: PulledRefJson[] = [];
      try {
        for (const name of ctx.positionals) {
          progress.phase(`pulling ${name}`);
          const moved = await pullRef(store, refs, remote, name, {
            onFetched: (blobs, bytes) => progress.add(blobs, bytes),
          });
          if (!moved) {
            throw new CasError(
              'ref-not-found',
              `ref ${JSON.stringify(name)} is not on remote ${remote.spec.url}`,
            );
          }
          pulled.push({
            name,
            digest: formatDigest(moved.root),
            blobsFetched: moved.fetched,
            bytesFetched: moved.bytesFetched,
          });
          ctx.out.line(
            `${name} ${formatDigest(moved.root)}: fetched ${moved.fetched} blobs (${formatBytes(moved.bytesFetched)})`,
          );
        }
      } catch (err) {
        progress.abandon();
        throw err;
      }
      progress.done();
      const json: PullJson = {
        remote: remote.spec.url,
        refs: pulled,
        blobsFetched: pulled.reduce((sum, r) => sum + r.blobsFetched, 0),
        bytesFetched: pulled.reduce((sum, r) => sum + r.bytesFetched, 0),
      };
      ctx.out.document(json);
      return 0;
    });
  },
};
