/** Every input name, defined once (as in action.yml). */
export enum Inputs {
  CasdVersion = 'casd-version',
  CasdUrl = 'casd-url',
  CasdSha256 = 'casd-sha256',
  CasdPath = 'casd-path',
  CacheDir = 'cache-dir',
  Quota = 'quota',
  QuotaLow = 'quota-low',
  Reserved = 'reserved',
  ProtectSessionBlobs = 'protect-session-blobs',
  LogLevel = 'log-level',
  Listen = 'listen',
  Remote = 'remote',
  InstanceName = 'instance-name',
  RemoteAsset = 'remote-asset',
  ActionCache = 'action-cache',
  ServerCert = 'server-cert',
  ClientCert = 'client-cert',
  ClientKey = 'client-key',
  Token = 'token',
  TokenFile = 'token-file',
  ReadOnly = 'read-only',
  Push = 'push',
  Compression = 'compression',
  Refs = 'refs',
  Path = 'path',
  Key = 'key',
  RestoreKeys = 'restore-keys',
  LookupOnly = 'lookup-only',
  FailOnCacheMiss = 'fail-on-cache-miss',
  RestoreLinks = 'restore-links',
  SaveLocalCache = 'save-local-cache',
  SaveRefs = 'save-refs',
  RestoreTimeout = 'restore-timeout',
  SaveTimeout = 'save-timeout',
  FailOnCacheError = 'fail-on-cache-error',
  GithubToken = 'github-token',
}

/** Every output name. */
export enum Outputs {
  Socket = 'socket',
  GrpcUrl = 'grpc-url',
  BazelUrl = 'bazel-url',
  CasdVersion = 'casd-version',
  CacheHit = 'cache-hit',
  MatchedKey = 'matched-key',
  /** As actions/cache/restore: the key input, and the key restored ('' on a miss). */
  CachePrimaryKey = 'cache-primary-key',
  CacheMatchedKey = 'cache-matched-key',
  RestoredRefs = 'restored-refs',
  Bazelrc = 'bazelrc',
  ReccEnv = 'recc-env',
  BuildstreamConf = 'buildstream-conf',
}

/** Names of the values the main step hands to the post step. */
export enum State {
  /** JSON of everything post needs (see state.ts). */
  Main = 'casd-main',
}

/** Environment variables the action exports to later steps. */
export enum ExportedEnv {
  Socket = 'CASD_SOCKET',
  GrpcUrl = 'CASD_GRPC_URL',
  BazelUrl = 'CASD_BAZEL_URL',
}
