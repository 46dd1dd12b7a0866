import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inputs } from '../../src/action/constants.js';

const dir = mkdtempSync(join(tmpdir(), 'inputs-'));
const notPem = join(dir, 'not.pem');
writeFileSync(notPem, 'hello');

/** One row per input (some twice): a malformed value, and words the message must contain. */
export const BAD_INPUTS: [Inputs, Partial<Record<Inputs, string>>, string[]][] = [
  [Inputs.CasdVersion, { [Inputs.CasdVersion]: 'v1;rm' }, ['casd-version', '"v1;rm"', '1.4.30']],
  [Inputs.CasdUrl, { [Inputs.CasdUrl]: 'ftp:/x' }, ['casd-url', 'http(s)://']],
  [Inputs.CasdSha256, { [Inputs.CasdSha256]: 'abc' }, ['casd-sha256', '64 hexadecimal']],
  [Inputs.CasdPath, { [Inputs.CasdPath]: '/nonexistent/casd' }, ['casd-path', 'executable']],
  [Inputs.Quota, { [Inputs.Quota]: 'lots' }, ['quota', '"lots"', '10G']],
  [Inputs.Quota, { [Inputs.Quota]: '150%' }, ['quota', '100%']],
  [Inputs.Quota, { [Inputs.Quota]: '0' }, ['quota', '"0"', 'above 0 bytes']],
  [Inputs.QuotaLow, { [Inputs.QuotaLow]: '-3' }, ['quota-low', '"-3"']],
  [Inputs.QuotaLow, { [Inputs.Quota]: '1G', [Inputs.QuotaLow]: '2G' }, ['quota-low', 'not above quota']],
  [Inputs.Reserved, { [Inputs.Reserved]: '5 parsecs' }, ['reserved', '"5 parsecs"']],
  [
    Inputs.ProtectSessionBlobs,
    { [Inputs.ProtectSessionBlobs]: 'maybe' },
    ['protect-session-blobs', 'true or false'],
  ],
  [Inputs.LogLevel, { [Inputs.LogLevel]: 'loud' }, ['log-level', 'error, warning, info, debug, trace']],
  [Inputs.Listen, { [Inputs.Listen]: '0.0.0.0:80' }, ['listen', 'loopback']],
  [Inputs.Remote, { [Inputs.Remote]: 'ftp://cache' }, ['remote', 'ftp', 'grpc://host:port']],
  [Inputs.InstanceName, { [Inputs.InstanceName]: 'main' }, ['instance-name', 'unless remote is set']],
  [
    Inputs.RemoteAsset,
    { [Inputs.Remote]: 'grpc://a:1', [Inputs.RemoteAsset]: 'nope' },
    ['remote-asset', 'accepted forms'],
  ],
  [
    Inputs.ActionCache,
    { [Inputs.Remote]: 'grpc://a:1', [Inputs.ActionCache]: 'grpc://a' },
    ['action-cache', 'port'],
  ],
  [
    Inputs.ServerCert,
    { [Inputs.Remote]: 'grpcs://a', [Inputs.ServerCert]: '/nonexistent.pem' },
    ['server-cert', 'ENOENT'],
  ],
  [
    Inputs.ClientCert,
    { [Inputs.Remote]: 'grpcs://a', [Inputs.ClientCert]: notPem },
    ['client-cert', 'BEGIN'],
  ],
  [
    Inputs.ClientKey,
    { [Inputs.Remote]: 'grpcs://a', [Inputs.ClientCert]: '-----BEGIN CERTIFICATE-----' },
    ['client-key', 'mutual TLS'],
  ],
  [Inputs.Token, { [Inputs.Token]: 's3cret' }, ['token', 'unless remote is set']],
  [Inputs.Token, { [Inputs.Remote]: 'grpc://a:1', [Inputs.Token]: 's3cret' }, ['token', 'only over TLS']],
  [
    Inputs.TokenFile,
    { [Inputs.Remote]: 'grpc://a:1', [Inputs.TokenFile]: '/nonexistent/token' },
    ['token-file', 'readable'],
  ],
  [Inputs.ReadOnly, { [Inputs.ReadOnly]: 'sometimes' }, ['read-only', 'true or false']],
  [Inputs.Push, { [Inputs.Push]: 'force' }, ['push', 'auto, true, false']],
  [Inputs.Compression, { [Inputs.Compression]: 'gzip' }, ['compression', 'auto, off']],
  [Inputs.Refs, { [Inputs.Refs]: '../../etc/passwd' }, ['refs', '".."']],
  [Inputs.Refs, { [Inputs.Refs]: 'a -> b -> c' }, ['refs', 'name -> path']],
  [Inputs.Path, { [Inputs.Key]: 'k' }, ['path', 'since key is set']],
  [Inputs.Key, { [Inputs.Path]: 'out' }, ['key', 'since path is set']],
  [
    Inputs.RestoreKeys,
    { [Inputs.Path]: 'out', [Inputs.Key]: 'k', [Inputs.RestoreKeys]: 'a,b' },
    ['restore-keys', 'commas'],
  ],
  [Inputs.LookupOnly, { [Inputs.LookupOnly]: 'perhaps' }, ['lookup-only', '"perhaps"', 'true or false']],
  [Inputs.LookupOnly, { [Inputs.LookupOnly]: 'true' }, ['key', 'since lookup-only is set']],
  [
    Inputs.FailOnCacheMiss,
    { [Inputs.FailOnCacheMiss]: 'sure' },
    ['fail-on-cache-miss', '"sure"', 'true or false'],
  ],
  [Inputs.FailOnCacheMiss, { [Inputs.FailOnCacheMiss]: 'true' }, ['key', 'since fail-on-cache-miss is set']],
  [Inputs.RestoreLinks, { [Inputs.RestoreLinks]: 'hard' }, ['restore-links', 'true or false']],
  [Inputs.SaveLocalCache, { [Inputs.SaveLocalCache]: 'please' }, ['save-local-cache', 'true or false']],
  [Inputs.SaveRefs, { [Inputs.SaveRefs]: 'never' }, ['save-refs', 'on-success, always']],
  [Inputs.RestoreTimeout, { [Inputs.RestoreTimeout]: 'soon' }, ['restore-timeout', '10m']],
  [Inputs.SaveTimeout, { [Inputs.SaveTimeout]: '5 days' }, ['save-timeout', '10m']],
  [
    Inputs.FailOnCacheError,
    { [Inputs.FailOnCacheError]: 'yesplease' },
    ['fail-on-cache-error', 'true or false'],
  ],
];
