import { existsSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { CasError, isCasError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import type {
  Remote as CasdRemote,
  FetchMissingBlobsRequest,
  FetchMissingBlobsResponse,
} from '../../gen/build/buildgrid/local_cas.js';
import { grpcToCasError, isGrpcError, type UnaryMethod, unary } from '../../grpc/call.js';
import { Connection, type ConnectionOptions } from '../../grpc/connection.js';
import { casdRemoteUrl, checkTokenTransport, parseEndpoint } from '../../grpc/endpoint.js';
import { REMOTE_RETRY_LIMIT } from '../../grpc/options.js';
import { chunks, forEachLimit } from '../../util/concurrency.js';
import { CasClient, type TreeDirectory, type Upload } from './cas-client.js';
import { type Digest, EMPTY_DIGEST, formatDigest } from '../digest.js';
import { copyBlobs } from './remote-copy.js';
import { decodeDirectory, treeLevels } from './remote-tree.js';
import type { CasStore } from '../store/store.js';
import { requiredBlobs } from '../trees/tree.js';
import { DigestSample, blobsBeyond } from './tree-delta.js';
import { LOCAL_CAS_GROUP, SPOT_CHECK_SIZE } from '../options.js';
import { NO_COMPRESSION } from './compression.js';

/** A remote cache as the user describes it. */
export interface RemoteSpec {
  /** Any endpoint form parseEndpoint accepts. */
  url: string;
  instanceName?: string;
  serverCert?: Buffer;
  clientCert?: Buffer;
  clientKey?: Buffer;
  /**
   * File holding the bearer token (the only form a token takes in the library: casd reads
   * it by path, our own channels re-read it when it changes).
   */
  tokenFile?: string;
  readOnly?: boolean;
  /** Remote Asset endpoint, when the deployment splits it from the CAS. */
  assetUrl?: string;
  /** ActionCache endpoint, when the deployment splits it from the CAS. */
  actionCacheUrl?: string;
  /**
   * zstd for our own transfers where the remote advertises it (default true;
   * CasClientOptions.compression). casd's transfers are never compressed.
   */
  compression?: boolean;
}

export interface RemoteOptions {
  logger?: Logger;
  /** Calls in flight at once. */
  concurrency?: number;
  /** Deadline of each call, in milliseconds. */
  timeoutMs?: number;
  /**
   * The local store behind the same casd. When given, pushDirectory walks trees from its
   * object files and packs (requiredBlobs) and uploads read them directly (uploadFromStore);
   * otherwise both go through casd's CAS service.
   */
  store?: CasStore;
  /** Where fallbacks stage big blobs (default: jobTempDir()). */
  tempDir?: string;
}

/** Counts from pushDirectory. */
export interface PushResult {
  /** Blobs of the tree asked about (FindMissingBlobs). */
  blobsChecked: number;
  /**
   * Blobs not asked about because a present tree holds them at the same path (an equal
   * subtree counts once); a sample of them was checked instead.
   */
  blobsSkipped: number;
  blobsMissing: number;
  blobsUploaded: number;
  bytesUploaded: number;
}

export interface PushOptions {
  /** Subtrees to leave out, as paths relative to the root. */
  excludeSubdirs?: string[];
  /** Hears of each group of blobs uploaded. */
  onUploaded?: (blobs: number, bytes: number) => void;
  /**
   * Trees the remote vouched for during this job: roots it returned for a ref through Remote
   * Asset, whose servers SHOULD keep the blobs they reference present "for a reasonable
   * period of time". Blobs these trees hold at the same path are not asked about, only a
   * random sample of them (SPOT_CHECK_SIZE); when the remote lacks any of the sample, every
   * blob is asked about after all. Needs RemoteOptions.store; ignored with excludeSubdirs.
   */
  presentTrees?: Digest[];
}

/**
 * A remote cache registered with the local casd. Fetches go through casd (which stores what
 * it fetches); uploads go straight from the local store when the Remote has it
 * (RemoteOptions.store), else through casd. The direct connection also serves
 * FindMissingBlobs and the fallbacks when casd's own transfer fails.
 */
export class Remote {
  readonly spec: RemoteSpec;
  /** The instance name casd routes to this remote. */
  readonly localInstance: string;
  /** A CAS client on the local casd's own store (instance ""). */
  readonly local: CasClient;
  /** A CAS client straight to the remote. */
  readonly direct: CasClient;
  /** Connection for Remote Asset calls (the asset endpoint, else the CAS one). */
  readonly assetConnection: Connection;
  readonly logger: Logger;
  private readonly localConnection: Connection;
  private readonly options: RemoteOptions;
  private readonly ownedConnections: Connection[];

  private constructor(init: {
    spec: RemoteSpec;
    localInstance: string;
    localConnection: Connection;
    direct: Connection;
    asset: Connection;
    options: RemoteOptions;
  }) {
    this.spec = init.spec;
    this.localInstance = init.localInstance;
    this.localConnection = init.localConnection;
    this.options = init.options;
    this.logger = init.options.logger ?? silentLogger;
    const clientOptions = {
      logger: this.logger,
      concurrency: init.options.concurrency,
      timeoutMs: init.options.timeoutMs,
    };
    this.local = new CasClient(init.localConnection, '', clientOptions);
    this.direct = new CasClient(init.direct, init.spec.instanceName ?? '', {
      ...clientOptions,
      compression: init.spec.compression,
    });
    this.assetConnection = init.asset;
    this.ownedConnections = init.asset === init.direct ? [init.direct] : [init.direct, init.asset];
  }

  /**
   * Registers `spec` with the local casd (LocalCAS GetInstanceNameForRemotes) and opens a
   * direct connection to the remote; casd and that connection read the token from
   * `spec.tokenFile`. Throws CasError on a bad endpoint, a token on a plaintext endpoint, or
   * when casd refuses the remote.
   */
  static async register(local: Connection, spec: RemoteSpec, options: RemoteOptions = {}): Promise<Remote> {
    const endpoint = parseEndpoint(spec.url);
    if (spec.tokenFile) checkTokenTransport(endpoint);
    const casdRemote = (url: string): CasdRemote => ({
      url: casdRemoteUrl(parseEndpoint(url)),
      instanceName: spec.instanceName ?? '',
      serverCert: spec.serverCert ?? Buffer.alloc(0),
      clientKey: spec.clientKey ?? Buffer.alloc(0),
      clientCert: spec.clientCert ?? Buffer.alloc(0),
      keepaliveTime: undefined,
      accessTokenPath: spec.tokenFile ?? '',
      accessTokenReloadInterval: undefined,
      // Why: casd reads 0 as "unset" and then retries 4 times, 1 s apart; the flags path
      // (serviceFlags) and this one share one limit.
      retryLimit: REMOTE_RETRY_LIMIT,
      retryDelay: undefined,
      requestTimeout: undefined,
      readOnly: spec.readOnly ?? false,
    });
    const credentials: ConnectionOptions = {
      serverCert: spec.serverCert,
      clientCert: spec.clientCert,
      clientKey: spec.clientKey,
      tokenFile: spec.tokenFile,
    };
    const opened: Connection[] = [];
    try {
      const response = await unary(local.localCas.getInstanceNameForRemotes.bind(local.localCas), {
        contentAddressableStorage: casdRemote(spec.url),
        remoteAsset: spec.assetUrl ? casdRemote(spec.assetUrl) : undefined,
        actionCache: spec.actionCacheUrl ? casdRemote(spec.actionCacheUrl) : undefined,
        execution: undefined,
        instanceName: '',
      });
      const direct = new Connection(endpoint, credentials);
      opened.push(direct);
      const asset = spec.assetUrl ? new Connection(spec.assetUrl, credentials) : direct;
      opened.push(asset);
      return new Remote({
        spec,
        localInstance: response.instanceName,
        localConnection: local,
        direct,
        asset,
        options,
      });
    } catch (err) {
      for (const connection of opened) connection.close();
      throw grpcToCasError(err, `registering remote ${spec.url} with casd`);
    }
  }

  /** Which of `digests` the remote lacks (direct FindMissingBlobs, batched, de-duplicated). */
  remoteMissingBlobs(digests: Iterable<Digest> | AsyncIterable<Digest>): Promise<Digest[]> {
    return this.direct.findMissingBlobs(digests);
  }

  /**
   * Fetches blobs from the remote into the local cache through casd (FetchMissingBlobs).
   * Returns the blobs the remote lacks. Blobs casd failed to fetch for another reason are
   * read directly from the remote and written to casd instead.
   */
  async fetchBlobs(digests: Iterable<Digest>): Promise<{ missing: Digest[] }> {
    const wanted = [...digests].filter((d) => d.hash !== EMPTY_DIGEST.hash);
    const { missing, retry } = await this.throughCasd('fetch', wanted);
    if (retry.length > 0) {
      const copied = await copyBlobs(this.direct, this.local, retry, { tempDir: this.options.tempDir });
      missing.push(...copied.missing);
    }
    return { missing };
  }

  /**
   * Sends blobs the remote lacks (asked first) through casd (UploadMissingBlobs), falling
   * back to reading them locally and writing them straight to the remote when casd fails.
   * Returns the blobs that could not be sent because the local cache lacks them.
   */
  async sendBlobs(digests: Iterable<Digest> | AsyncIterable<Digest>): Promise<{ missing: Digest[] }> {
    this.assertWritable('send blobs');
    const needed = await this.remoteMissingBlobs(digests);
    return this.upload(needed);
  }

  /**
   * Fetches every Directory of the tree under `root` into the local cache, level by level
   * in batches through casd (files are not fetched). Returns the directories, root first.
   * Throws 'blob-not-found' naming a Directory the remote lacks.
   */
  async fetchDirectory(root: Digest): Promise<TreeDirectory[]> {
    const result: TreeDirectory[] = [];
    const levels = treeLevels(root, async (level) => {
      const absent = await this.local.findMissingBlobs(level);
      if (absent.length > 0) {
        const { missing } = await this.fetchBlobs(absent);
        if (missing.length > 0) {
          throw new CasError(
            'blob-not-found',
            `Directory ${formatDigest(missing[0])} of tree ${formatDigest(root)} is not on remote ${this.spec.url}`,
          );
        }
      }
      const read = await this.local.readBlobs(level);
      return level.map((digest) => {
        const data = read.blobs.get(digest.hash);
        if (!data)
          throw new CasError(
            'blob-not-found',
            `Directory ${formatDigest(digest)} vanished from the local cache`,
          );
        return { digest, data, directory: decodeDirectory(digest, data) };
      });
    });
    for await (const level of levels) result.push(...level);
    return result;
  }

  /**
   * Fetches a whole tree into the local cache: LocalCAS FetchTree (with file blobs when
   * `withFiles`). When casd cannot (the remote lacks GetTree, say), reads the directories
   * directly (GetTree or level by level) and fetches the missing files through casd.
   * Throws 'blob-not-found' naming what the remote lacks.
   */
  async fetchTree(root: Digest, options: { withFiles?: boolean } = {}): Promise<void> {
    const withFiles = options.withFiles ?? false;
    const localCas = this.localConnection.localCas;
    try {
      await unary(localCas.fetchTree.bind(localCas), {
        instanceName: this.localInstance,
        rootDigest: root,
        fetchFileBlobs: withFiles,
      });
      return;
    } catch (err) {
      if (isGrpcError(err, status.NOT_FOUND)) {
        throw new CasError('blob-not-found', `tree ${formatDigest(root)} is not on remote ${this.spec.url}`, {
          cause: err,
          grpcCode: status.NOT_FOUND,
        });
      }
      this.logger.debug(
        `casd FetchTree of ${formatDigest(root)} failed (${String(err)}); fetching level by level`,
      );
    }
    const directories = await this.direct.getTree(root);
    await this.local.writeBlobs(directories.map(({ digest, data }) => ({ digest, data })));
    if (!withFiles) return;
    const files = new Map<string, Digest>();
    for (const { directory } of directories) {
      for (const file of directory.files) if (file.digest) files.set(file.digest.hash, file.digest);
    }
    const absent = await this.local.findMissingBlobs(files.values());
    const { missing } = await this.fetchBlobs(absent);
    if (missing.length > 0) {
      throw new CasError(
        'blob-not-found',
        `file blob ${formatDigest(missing[0])} of tree ${formatDigest(root)} is not on remote ${this.spec.url} ` +
          `(${missing.length} missing)`,
      );
    }
  }

  /** Fetches a tree with all its files; false when the remote does not hold all of it. */
  async pullTree(root: Digest): Promise<boolean> {
    try {
      await this.fetchTree(root, { withFiles: true });
      return true;
    } catch (err) {
      if (isCasError(err, 'blob-not-found')) return false;
      throw err;
    }
  }

  /**
   * Pushes the tree under `root` (from the local cache): lists the blobs it needs (streamed),
   * asks the remote which it lacks, and uploads only those. `excludeSubdirs` (paths relative
   * to the root) leaves subtrees out. With `presentTrees`, blobs those trees hold at the same
   * path are not asked about (see PushOptions). Returns the counts; throws 'blob-not-found'
   * when the local cache lacks part of the tree.
   */
  async pushDirectory(root: Digest, options: PushOptions = {}): Promise<PushResult> {
    this.assertWritable('push a directory');
    let blobsChecked = 0;
    const counted = async function* (blobs: AsyncIterable<Digest>): AsyncGenerator<Digest> {
      for await (const digest of blobs) {
        blobsChecked++;
        yield digest;
      }
    };
    const store = this.options.store;
    const bases = options.excludeSubdirs?.length || !store ? [] : (options.presentTrees ?? []);
    const sample = new DigestSample(SPOT_CHECK_SIZE);
    let needed = await this.remoteMissingBlobs(
      counted(
        bases.length > 0
          ? blobsBeyond(store as CasStore, root, bases, (d) => sample.offer(d))
          : this.treeBlobs(root, options.excludeSubdirs),
      ),
    );
    let blobsSkipped = sample.count;
    if (sample.digests.length > 0) {
      const lacking = await this.remoteMissingBlobs(sample.digests);
      if (lacking.length > 0) {
        this.logger.info(
          `${this.spec.url} lacks ${lacking.length} of ${sample.digests.length} sampled blobs of a tree it ` +
            'vouched for (Remote Asset); asking about every blob of the push',
        );
        blobsChecked = 0;
        blobsSkipped = 0;
        needed = await this.remoteMissingBlobs(counted(this.treeBlobs(root)));
      }
    }
    const { missing } = await this.upload(needed, options.onUploaded);
    if (missing.length > 0) {
      throw new CasError(
        'blob-not-found',
        `cannot push tree ${formatDigest(root)}: blob ${formatDigest(missing[0])} is not in the local cache ` +
          `(${missing.length} missing)`,
      );
    }
    return {
      blobsChecked,
      blobsSkipped,
      blobsMissing: needed.length,
      blobsUploaded: needed.length,
      bytesUploaded: needed.reduce((sum, d) => sum + d.sizeBytes, 0),
    };
  }

  // Every blob of a local tree: from the store's object files when we have the store, else
  // through casd (GetTree on its own store).
  private async *treeBlobs(root: Digest, excludeSubdirs?: string[]): AsyncGenerator<Digest> {
    if (this.options.store) {
      yield* requiredBlobs(this.options.store, root, { excludeSubdirs });
      return;
    }
    if (excludeSubdirs && excludeSubdirs.length > 0) {
      throw new CasError('invalid-input', 'excludeSubdirs needs the local store (RemoteOptions.store)');
    }
    for (const { digest, directory } of await this.local.getTree(root)) {
      yield digest;
      for (const file of directory.files) if (file.digest) yield file.digest;
    }
  }

  /** Closes the direct connections; the local one stays open. */
  async close(): Promise<void> {
    for (const connection of this.ownedConnections) connection.close();
  }

  private assertWritable(doing: string): void {
    if (this.spec.readOnly) {
      throw new CasError('invalid-input', `cannot ${doing}: remote ${this.spec.url} is configured read-only`);
    }
  }

  // Uploads blobs known to be missing remotely: straight from the local store when we have it
  // (uploadFromStore), else through casd with direct writes for what it failed.
  private async upload(
    digests: Digest[],
    onUploaded?: (blobs: number, bytes: number) => void,
  ): Promise<{ missing: Digest[] }> {
    const store = this.options.store;
    if (!store) return this.uploadThroughCasd(digests, onUploaded);
    // casd cannot read packs nor send zstd; blobs in its own object files it sends faster than
    // we do (the first push of 10,000 files to a loopback casd, `bench:push`: 2.2-3.4 s
    // against 3.96-5.14 s reading the same object files here).
    if ((await this.direct.compression().catch(() => NO_COMPRESSION)).zstd) {
      return this.uploadFromStore(store, digests, onUploaded);
    }
    const packed: Digest[] = [];
    const objects: Digest[] = [];
    for (const digest of digests) {
      if (store.packs.has(digest.hash)) packed.push(digest);
      else if (digest.hash !== EMPTY_DIGEST.hash) objects.push(digest);
    }
    const fromPacks = await this.uploadFromStore(store, packed, onUploaded);
    const throughCasd = await this.uploadThroughCasd(objects, onUploaded);
    return { missing: [...fromPacks.missing, ...throughCasd.missing] };
  }

  // Uploads through casd (UploadMissingBlobs on the registered instance), directly what casd
  // could not.
  private async uploadThroughCasd(
    digests: Digest[],
    onUploaded?: (blobs: number, bytes: number) => void,
  ): Promise<{ missing: Digest[] }> {
    if (digests.length === 0) return { missing: [] };
    const sent: Digest[] = [];
    const { missing, retry } = await this.throughCasd('upload', digests, (moved) => {
      sent.push(...moved);
      onUploaded?.(
        moved.length,
        moved.reduce((sum, digest) => sum + digest.sizeBytes, 0),
      );
    });
    // Why: casd does not send again a blob it sent earlier in its session, even when the
    // remote has lost it since (seen with 1.4.30); those stay missing whatever casd answers.
    if (sent.length > 0) retry.push(...(await this.remoteMissingBlobs(sent)));
    if (retry.length > 0) {
      this.logger.info(`uploading ${retry.length} blobs to ${this.spec.url} directly (casd could not)`);
      const copied = await copyBlobs(this.local, this.direct, retry, {
        tempDir: this.options.tempDir,
        objectPath: this.options.store ? (d) => (this.options.store as CasStore).objectPath(d) : undefined,
      });
      missing.push(...copied.missing);
    }
    return { missing };
  }

  /**
   * Writes blobs straight from the local store to the remote: object files streamed, packed
   * blobs read into their batch when its call is sent; several calls in flight, zstd where
   * the remote takes it. For packed blobs (a capture into a pack writes no object file), and
   * for every blob where the remote takes zstd: casd can do neither. Returns the blobs the
   * store lacks.
   */
  private async uploadFromStore(
    store: CasStore,
    digests: Digest[],
    onUploaded?: (blobs: number, bytes: number) => void,
  ): Promise<{ missing: Digest[] }> {
    const missing: Digest[] = [];
    const uploads: Upload[] = [];
    for (const digest of digests) {
      if (digest.hash === EMPTY_DIGEST.hash) continue;
      if (store.packs.has(digest.hash)) {
        uploads.push({
          digest,
          load: () => store.readBlob(digest),
          fill: (target) => store.packs.readInto(digest.hash, target),
        });
        continue;
      }
      const path = store.objectPath(digest);
      if (existsSync(path)) uploads.push({ digest, path });
      else missing.push(digest);
    }
    await this.direct.writeBlobs(uploads, (written) =>
      onUploaded?.(
        written.length,
        written.reduce((sum, digest) => sum + digest.sizeBytes, 0),
      ),
    );
    return { missing };
  }

  /**
   * Moves blobs through casd (LocalCAS Fetch/UploadMissingBlobs on the registered instance),
   * 512 a call, several calls at once. Sorts casd's failures into blobs the other side lacks
   * (NOT_FOUND) and blobs to move directly instead; `onMoved` hears of each group's successes.
   */
  private async throughCasd(
    direction: 'fetch' | 'upload',
    digests: Digest[],
    onMoved?: (moved: Digest[]) => void,
  ): Promise<{ missing: Digest[]; retry: Digest[] }> {
    const missing: Digest[] = [];
    const retry: Digest[] = [];
    const localCas = this.localConnection.localCas;
    // The two calls take and give the same shapes.
    const call: UnaryMethod<FetchMissingBlobsRequest, FetchMissingBlobsResponse> =
      direction === 'fetch'
        ? localCas.fetchMissingBlobs.bind(localCas)
        : localCas.uploadMissingBlobs.bind(localCas);
    await forEachLimit(chunks(digests, LOCAL_CAS_GROUP), 4, async (group) => {
      try {
        const response = await unary(call, { instanceName: this.localInstance, blobDigests: group });
        // casd reports the blobs that failed (some versions list the rest as OK).
        const failed = new Set<string>();
        for (const entry of response.responses) {
          const code = entry.status?.code ?? 0;
          if (!entry.digest || code === 0) continue;
          failed.add(entry.digest.hash);
          (code === status.NOT_FOUND ? missing : retry).push(entry.digest);
        }
        onMoved?.(group.filter((digest) => !failed.has(digest.hash)));
      } catch (err) {
        this.logger.debug(`casd ${direction} of ${group.length} blobs failed (${String(err)}); going direct`);
        retry.push(...group);
      }
    });
    return { missing, retry };
  }
}
