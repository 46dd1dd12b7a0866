import { type Digest, formatDigest } from '../../cas/digest.js';
import { RefStore } from '../../cas/store/refs.js';
import type { CasStore } from '../../cas/store/store.js';
import { DigestSet, walkDirectories } from '../../cas/trees/tree.js';
import { CasError } from '../../errors.js';
import { formatBytes, parseBytes } from '../../util/size.js';
import { type Command, flagOption, stringOption, UsageError } from '../command.js';
import type { GcJson } from '../json.js';
import { withDaemon } from '../session.js';
import { openStore } from './store.js';

/**
 * Bytes the tree `root` adds on top of the blobs already in `counted`: its Directories and
 * files not counted yet (Directories that expired from the cache count as nothing). Returns the
 * new digests too, so that the caller can count them only when it keeps the tree.
 */
async function extraBytes(
  store: CasStore,
  root: Digest,
  counted: DigestSet,
): Promise<{ bytes: number; digests: Digest[] }> {
  const local = new DigestSet();
  const digests: Digest[] = [];
  let bytes = 0;
  const take = (digest: Digest): void => {
    if (counted.has(digest) || !local.add(digest)) return;
    digests.push(digest);
    bytes += digest.sizeBytes;
  };
  for await (const { digest, directory } of walkDirectories(store, root, {
    dedupe: true,
    onMissing: () => undefined,
  })) {
    take(digest);
    for (const file of directory.files) if (file.digest) take(file.digest);
  }
  return { bytes, digests };
}

function gcCommand(name: 'gc' | 'prune'): Command {
  return {
    name,
    summary: name === 'gc' ? 'remove the oldest refs until the rest fit in a size' : 'same as gc',
    synopsis: `${name} --to SIZE [--dry-run]`,
    description: [
      'Keeps the most recently used refs whose trees (blobs counted once) fit in SIZE, and',
      'removes every older ref from the first that does not fit. Only refs are removed: casd',
      'has no call to delete blobs, so the blobs no ref needs any more are freed by its own',
      'LRU expiry when the cache reaches its quota (--quota).',
    ].join('\n'),
    options: { to: { type: 'string' }, 'dry-run': { type: 'boolean' } },
    optionHelp: {
      '--to SIZE': 'the size the kept refs must fit in: 10G, 512MiB, ...',
      '--dry-run': 'report what would be removed, remove nothing',
    },
    positionals: [0, 0],
    async run({ config, values, out, logger }) {
      const to = stringOption(values, 'to');
      if (to === undefined) throw new UsageError(`${name} needs --to SIZE (e.g. --to 5G)`);
      let targetBytes: number;
      try {
        targetBytes = parseBytes(to, '--to');
      } catch (err) {
        if (err instanceof CasError) throw new UsageError(err.message);
        throw err;
      }
      const dryRun = flagOption(values, 'dry-run');
      return withDaemon(config, logger, async (daemon) => {
        const store = await openStore(daemon, logger);
        const refs = new RefStore(config.cacheDir);
        const counted = new DigestSet();
        const json: GcJson = { targetBytes, keptBytes: 0, kept: [], removed: [] };
        let full = false;
        for (const ref of await refs.list()) {
          const extra = await extraBytes(store, ref.digest, counted);
          if (!full && json.keptBytes + extra.bytes <= targetBytes) {
            json.keptBytes += extra.bytes;
            for (const digest of extra.digests) counted.add(digest);
            json.kept.push(ref.name);
            continue;
          }
          full = true;
          json.removed.push({ name: ref.name, digest: formatDigest(ref.digest), bytes: extra.bytes });
          if (!dryRun) await refs.remove(ref.name);
        }
        out.document(json);
        const verb = dryRun ? 'would remove' : 'removed';
        for (const removed of json.removed)
          out.line(`${verb} ${removed.name} (${formatBytes(removed.bytes)})`);
        out.line(
          `kept ${json.kept.length} refs (${formatBytes(json.keptBytes)} of ${formatBytes(targetBytes)}), ${verb} ${json.removed.length}`,
        );
        return 0;
      });
    },
  };
}

export const gcCommands: Command[] = [gcCommand('gc'), gcCommand('prune')];
