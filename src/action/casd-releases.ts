/** SHA-256 of each buildbox release archive the action knows, by release arch (`x86_64`). */
export type CasdReleases = Readonly<Record<string, Readonly<Record<string, string>>>>;

/**
 * The buildbox-integration releases whose archives the action verifies on its own. To add
 * one: download `buildbox-{arch}-linux-gnu.tgz` of the release, add its `sha256sum` here, and
 * (for a newer release) raise the `casd-version` default in action.yml and in defaults.ts
 * (a test holds the default to the newest release here). The checksums below are those that
 * public projects pin for these releases.
 */
export const CASD_RELEASES: CasdReleases = {
  '1.4.25': { x86_64: '3a55195f04a2ae57b5485d4b85859ab95b724f2f2215ed367295dc25001783f8' },
  '1.4.15': { x86_64: '07ce72be4a7a33534a1f31a7ebf28fb1d830686c6deff068ee6353e2fc811c0d' },
};

/** Where a release's archive is published (the default of the casd-url input). */
export const RELEASE_URL_TEMPLATE =
  'https://gitlab.com/BuildGrid/buildbox/buildbox-integration/-/releases/{version}/downloads/buildbox-{arch}-linux-gnu.tgz';

/**
 * The newest release's archive. Why a separate URL: GitLab names the newest release through
 * a permalink, and `latest` put in place of {version} in the URL above names no release.
 */
export const LATEST_RELEASE_URL_TEMPLATE =
  'https://gitlab.com/BuildGrid/buildbox/buildbox-integration/-/releases/permalink/latest/downloads/buildbox-{arch}-linux-gnu.tgz';

/** Compares release versions numerically, part by part (`1.4.9` < `1.4.25`). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map(Number);
  const pb = b.split(/[.-]/).map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0 && !Number.isNaN(diff)) return diff;
  }
  return 0;
}

/** The newest version in a table of releases, or undefined for an empty table. */
export function newestRelease(releases: CasdReleases): string | undefined {
  return Object.keys(releases).sort(compareVersions).at(-1);
}

/**
 * The URL of a release archive: {version} and {arch} of `urlTemplate` replaced, except that
 * `latest` with the default template gives the permalink of the newest release.
 */
export function releaseUrl(urlTemplate: string, version: string, arch: string): string {
  const template =
    version === 'latest' && urlTemplate === RELEASE_URL_TEMPLATE ? LATEST_RELEASE_URL_TEMPLATE : urlTemplate;
  return template.replaceAll('{version}', version).replaceAll('{arch}', arch);
}
