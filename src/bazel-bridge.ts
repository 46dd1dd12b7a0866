import { runBridgeProcess } from './casd/bridge-process.js';

// The detached Bazel bridge process (see src/casd/bazel-bridge.ts), started by the daemon manager.
try {
  await runBridgeProcess(process.argv.slice(2));
} catch (err) {
  process.stdout.write(`error: ${(err as Error).message}\n`);
  process.exit(1);
}
