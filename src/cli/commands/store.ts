import { resolve } from 'node:path';
import { bringLocal } from '../../cas/remote/bring-local.js';
import { checkout } from '../../cas/trees/checkout.js';
import { type Digest, formatDigest, parseDigest } from '../../cas/digest.js';
import { diffTrees } from '../../cas/trees/diff.js';
import { RefStore } from '../../cas/store/refs.js';
import { Remote } from '../../cas/remote/remote.js';
import { CasStore } from '../../cas/store/store.js';
import type { CasdDaemon } from '../../casd/index.js';
import { CasError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { type Command, type CommandContext, flagOption, stringOption, UsageError } from '../command.js';
import { capturePaths, countTree, rootNames } from '../capture.js';
import type { CaptureJson, CheckoutJson, DiffJson, RefsJson, RmJson } from '../json.js';
import { checkRefName, checkTarget, DIGEST_FORM } from '../ref-args.js';
import { withDaemon } from '../session.js';
import { remoteSpec } from '../remote-spec.js';

/** A local store on `daemon`'s cache; captures stay local even through a proxying daemon. */
export async function openStore(daemon: CasdDaemon, logger: Logger): Promise<CasStore> {
  const store = new CasStore({
    cacheDir: daemon.cacheDir,
    connection: daemon.connection(),
    skipUpload: true,
    logger,
  });
  await store.checkLayout();
  return store;
}

/** `HASH/SIZE` as a digest, else the digest a local ref points to (the ref is touched). */
export async function resolveTarget(refs: RefStore, text: string): Promise<Digest> {
  if (DIGEST_FORM.test(text)) return parseDigest(text);
  return refs.resolve(text, { touch: true });
}

export const captureCommand: Command = {
  name: 'capture',
  summary: 'add files and directories to the cache, optionally under a ref',
  synopsis: 'capture PATH... [--ref NAME]',
  description: [
    'Captures PATH into the local cache through casd and prints the root digest (HASH/SIZE).',
    'One directory: the tree is that directory. Several paths (or a file): the tree has one',
    'entry per path, named by its basename; two paths with the same basename are refused.',
    'Captures stay local even when the daemon proxies to a remote: `push` sends them.',
  ].join('\n'),
  options: { ref: { type: 'string' } },
  optionHelp: { '--ref NAME': 'point the local ref NAME at the captured tree' },
  positionals: [1, Infinity],
  async run({ config, positionals, values, out, logger }: CommandContext) {
    const ref = stringOption(values, 'ref');
    if (values.ref !== undefined && !ref) throw new UsageError('--ref needs a name');
    if (ref) checkRefName(ref);
    if (positionals.length > 1) rootNames(positionals);
    return withDaemon(config, logger, async (daemon) => {
      const store = await openStore(daemon, logger);
      const progress = out.progress('capturing');
      let root: Digest;
      try {
        root = await capturePaths(store, positionals);
        progress.phase('captured');
        const counts = await countTree(store, root, progress);
        progress.done(
          `captured ${counts.files} files, ${counts.directories} directories, ${counts.symlinks} symlinks as ${formatDigest(root)}`,
        );
        if (ref) await new RefStore(config.cacheDir).set(ref, root);
        const json: CaptureJson = {
          ref: ref ?? null,
          digest: formatDigest(root),
          paths: positionals.map((p) => resolve(p)),
          ...counts,
        };
        out.document(json);
        out.line(formatDigest(root));
      } catch (err) {
        progress.abandon();
        throw err;
      }
      return 0;
    });
  },
};

export const checkoutCommand: Command = {
  name: 'checkout',
  summary: 'materialise a ref or HASH/SIZE tree in a directory',
  synopsis: 'checkout REF|HASH/SIZE DEST [--link]',
  description: [
    'Writes the tree a local ref (or HASH/SIZE) names into DEST, which must be empty or new.',
    'When the tree is not complete locally and a remote is set, it is fetched first.',
  ].join('\n'),
  options: { link: { type: 'boolean' } },
  optionHelp: {
    '--link': 'hard-link files from the cache instead of copying (read-only files: never modify them)',
  },
  positionals: [2, 2],
  async run({ config, positionals, values, out, logger }) {
    const [target, dest] = positionals;
    checkTarget(target);
    return withDaemon(config, logger, async (daemon) => {
      const store = await openStore(daemon, logger);
      const root = await resolveTarget(new RefStore(config.cacheDir), target);
      let fetched = false;
      if (config.remote && !(await store.containsDirectory(root))) {
        const remote = await Remote.register(daemon.connection(), remoteSpec(config.remote), {
          store,
          logger,
        });
        try {
          fetched = (await bringLocal(store, remote, root)).fetched > 0;
        } finally {
          await remote.close();
        }
      }
      const progress = out.progress('checking out');
      const result = await checkout(store, root, dest, {
        link: flagOption(values, 'link'),
        onFile: (bytes) => progress.add(1, bytes),
      }).catch((err: unknown) => {
        progress.abandon();
        throw err;
      });
      progress.done(
        `checked out ${result.files} files (${result.linked} linked), ${result.directories} directories, ${result.symlinks} symlinks to ${dest}`,
      );
      const json: CheckoutJson = {
        digest: formatDigest(root),
        dest: resolve(dest),
        files: result.files,
        linked: result.linked,
        directories: result.directories,
        symlinks: result.symlinks,
        fetchedFromRemote: fetched,
      };
      out.document(json);
      return 0;
    });
  },
};

export const diffCommand: Command = {
  name: 'diff',
  summary: 'list paths that differ between two refs (or HASH/SIZE trees)',
  synopsis: 'diff REF_A REF_B',
  description:
    'Prints `M path` (modified), `D path` (only in REF_A) and `A path` (only in REF_B), one per line.',
  options: {},
  optionHelp: {},
  positionals: [2, 2],
  async run({ config, positionals, out, logger }) {
    const [a, b] = positionals;
    for (const name of [a, b]) checkTarget(name);
    return withDaemon(config, logger, async (daemon) => {
      const store = await openStore(daemon, logger);
      const refs = new RefStore(config.cacheDir);
      const diff = await diffTrees(store, await resolveTarget(refs, a), await resolveTarget(refs, b));
      const json: DiffJson = { a, b, ...diff };
      out.document(json);
      for (const path of diff.modified) out.line(`M ${path}`);
      for (const path of diff.removed) out.line(`D ${path}`);
      for (const path of diff.added) out.line(`A ${path}`);
      return 0;
    });
  },
};

export const refsCommand: Command = {
  name: 'refs',
  summary: 'list local refs, newest first',
  synopsis: 'refs [GLOB]',
  description:
    'Lists local refs matching GLOB (`*` within a path component, `**` across): name, digest, last use.',
  options: {},
  optionHelp: {},
  positionals: [0, 1],
  async run({ config, positionals, out }) {
    const refs = await new RefStore(config.cacheDir).list(positionals[0]);
    const json: RefsJson = {
      refs: refs.map((r) => ({
        name: r.name,
        digest: formatDigest(r.digest),
        mtime: new Date(r.mtimeMs).toISOString(),
      })),
    };
    out.document(json);
    for (const ref of json.refs) out.line(`${ref.name}\t${ref.digest}\t${ref.mtime}`);
    return 0;
  },
};

export const rmCommand: Command = {
  name: 'rm',
  summary: 'remove local refs (casd expires their blobs later)',
  synopsis: 'rm REF...',
  description: 'Removes local refs. Nothing is removed when one of them does not exist.',
  options: {},
  optionHelp: {},
  positionals: [1, Infinity],
  async run({ config, positionals, out }) {
    for (const name of positionals) checkRefName(name);
    const refs = new RefStore(config.cacheDir);
    for (const name of positionals) {
      if (!(await refs.has(name))) {
        throw new CasError(
          'ref-not-found',
          `ref ${JSON.stringify(name)} does not exist in ${refs.refsDir}; nothing removed`,
        );
      }
    }
    for (const name of positionals) await refs.remove(name);
    const json: RmJson = { removed: positionals };
    out.document(json);
    for (const name of positionals) out.line(`removed ${name}`);
    return 0;
  },
};
