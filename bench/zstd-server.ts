/**
 * The stand-in server of bench/zstd-push.ts in its own process, so that its (de)compression
 * does not run on the pushing process's thread. Prints `READY <url>`; answers a line on stdin
 * with `COUNTERS <json>`; stops on stdin's end.
 *
 *   node ... bench/zstd-server.ts [zstd]
 */
import { createInterface } from 'node:readline';
import setupCasd from '../__tests__/helpers/global-setup.js';
import { startTestCasd } from '../__tests__/helpers/casd.js';
import { startLimitedRemote } from '../__tests__/helpers/limited-remote.js';

setupCasd();
const backing = await startTestCasd();
const limit = 4 * 1024 * 1024;
const server = await startLimitedRemote(backing.socket, {
  zstd: process.argv[2] === 'zstd',
  advertisedBatchBytes: limit,
  enforcedBatchBytes: limit + 64 * 1024,
});
console.log(`READY ${server.url}`);
const lines = createInterface({ input: process.stdin });
lines.on('line', () => console.log(`COUNTERS ${JSON.stringify(server.counters)}`));
lines.on('close', () => {
  void server.stop().then(() => backing.stop());
});
