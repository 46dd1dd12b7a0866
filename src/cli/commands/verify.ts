import { RefStore } from '../../cas/store/refs.js';
import { formatObjectName, verifyStore } from '../../cas/store/verify.js';
import { formatBytes } from '../../util/size.js';
import type { Command } from '../command.js';
import type { VerifyJson } from '../json.js';
import { checkTarget } from '../ref-args.js';
import { withDaemon } from '../session.js';
import { openStore, resolveTarget } from './store.js';

export const verifyCommand: Command = {
  name: 'verify',
  aliases: ['fsck'],
  summary: 'check every object against its digest and evict the damaged ones',
  synopsis: 'verify [REF|HASH/SIZE ...]',
  description: [
    'Re-hashes (SHA-256) every object of the local cache, or with arguments only the objects of',
    'those trees (refs or HASH/SIZE), and evicts each one whose content no longer matches its',
    'digest, as a write through a file restored as a hard link leaves one: the next restore then',
    'fetches a good copy from the remote, or misses. Prints each evicted object with its file',
    'and a count of what was checked (with arguments, also the objects the trees name that the',
    'cache lacks). Exits 1 when it evicted something, as git fsck exits non-zero on corruption;',
    '0 when everything matched.',
  ].join('\n'),
  options: {},
  optionHelp: {},
  positionals: [0, Infinity],
  async run({ config, positionals, out, logger }) {
    for (const target of positionals) checkTarget(target);
    return withDaemon(config, logger, async (daemon) => {
      const store = await openStore(daemon, logger);
      const refs = new RefStore(config.cacheDir);
      const roots = [];
      for (const target of positionals) roots.push(await resolveTarget(refs, target));
      const progress = out.progress('verifying');
      const result = await verifyStore(store, {
        roots: positionals.length > 0 ? roots : undefined,
        onChecked: (bytes) => progress.add(1, bytes),
        logger,
      }).catch((err: unknown) => {
        progress.abandon();
        throw err;
      });
      progress.done();
      const json: VerifyJson = {
        checked: result.checked,
        bytes: result.bytes,
        missing: result.missing,
        evicted: result.evicted.map((e) => ({ digest: formatObjectName(e), path: e.path })),
      };
      out.document(json);
      for (const evicted of json.evicted) out.line(`evicted ${evicted.digest} ${evicted.path}`);
      const missing = positionals.length > 0 ? `; ${json.missing} not in the local cache` : '';
      out.line(
        `checked ${json.checked} objects (${formatBytes(json.bytes)}), evicted ${json.evicted.length}${missing}`,
      );
      if (json.evicted.length === 0) return 0;
      logger.warning(
        `${json.evicted.length} object(s) did not match their digest and were evicted; ` +
          'a restore fetches them again from the remote, or misses',
      );
      return 1;
    });
  },
};
