import * as core from '@actions/core';
import { formatDigest } from '../cas/digest.js';
import { checkLinkedFiles } from '../cas/capture/link-check.js';
import type { CasStore } from '../cas/store/store.js';
import { actionsLogger } from './logger.js';
import type { RunReport } from './report.js';

/**
 * The post step's first look at the store, before anything is captured, pushed or persisted:
 * finds files restored as hard links (restore-links) that the job wrote into, which rewrote
 * casd's objects through the shared inode. Each damaged object is evicted (checkLinkedFiles);
 * each is named in a warning and in the report's `linkWrites`, for the summary. The files
 * keep their new content, which a capture of `path` then saves under its own digest.
 */
export async function checkLinkWrites(store: CasStore, report: RunReport): Promise<void> {
  const result = await checkLinkedFiles(store, { logger: actionsLogger });
  core.debug(
    `checked ${result.files} file(s) restored as links: ${result.rehashed} object(s) hashed again, ${result.damaged.length} damaged`,
  );
  for (const damaged of result.damaged) {
    const [first, ...others] = damaged.paths;
    const digest = formatDigest(damaged.digest);
    const sharing = others.length > 0 ? ` (and ${others.join(', ')}, linked to the same object)` : '';
    core.warning(
      `${first}${sharing} was written through its hard link into the local cache (restore-links: true): ` +
        `object ${digest} no longer matched its digest and ${damaged.evicted ? 'was evicted' : 'had been replaced'}; ` +
        `the file keeps its new content, which a capture saves under its own digest ${formatDigest(damaged.actual)}. ` +
        'Delete a linked file before ' +
        'writing it (rm -f, or write a new file and rename it over), or set restore-links: false.',
    );
    report.linkWrites = [...(report.linkWrites ?? []), { paths: damaged.paths, digest }];
  }
}
