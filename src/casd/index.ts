export {
  buildCasdArgs,
  CASD_LOG_LEVELS,
  type CasdLogLevel,
  type CasdRemoteFlags,
  type DaemonOptions,
  proxyFlags,
  type RemoteFiles,
  serviceFlags,
  type ServiceFlags,
} from './args.js';
export {
  CasdDaemon,
  DEFAULT_READY_TIMEOUT_MS,
  type DaemonState,
  type ShutdownResult,
  type StartOptions,
  type StopOptions,
} from './daemon.js';
export {
  createLogFile,
  logDir,
  logExcerpt,
  MAX_LOG_FILES,
  pruneLogs,
  tailLog,
  type LogFile,
} from './logs.js';
export { makeSocketDir, maxSocketPathBytes, parseListen, type ListenAddress } from './socket.js';
export { formatUsage, getUsage, UsageMonitor, type CacheUsage, type UsageMonitorOptions } from './usage.js';
export { casdVersion, parseCasdVersion } from './version.js';
export { daemonStartOptions, type DaemonSettings, filesystemBytes, parseQuota } from './start-options.js';
export { decodeShellStatus, readExitStatus } from './supervisor.js';
export { processAlive } from './process.js';
