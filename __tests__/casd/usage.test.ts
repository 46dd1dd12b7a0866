import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CasdDaemon, formatUsage, getUsage, UsageMonitor } from '../../src/casd/index.js';
import { Connection } from '../../src/grpc/connection.js';
import { sleep } from '../../src/util/concurrency.js';
import { casdBinary } from '../helpers/casd.js';
import { recordingLogger, tempDir } from './support.js';

describe('formatUsage', () => {
  it('says unknown before casd has answered', () => {
    expect(formatUsage(undefined)).toBe('unknown');
  });

  it('shows only the used size when there is no quota', () => {
    expect(formatUsage({ usedBytes: 1_234_567, quotaBytes: 0 })).toBe('1.2 MB');
  });

  it('shows used / quota (percent, rounded down) with one decimal place', () => {
    expect(formatUsage({ usedBytes: 2_999_000_000, quotaBytes: 5_000_000_000 })).toBe(
      '3.0 GB / 5.0 GB (59%)',
    );
    expect(formatUsage({ usedBytes: 0, quotaBytes: 5_000_000_000 })).toBe('0 B / 5.0 GB (0%)');
  });
});

describe('cache usage from a real casd', () => {
  let tmp: ReturnType<typeof tempDir>;
  let daemon: CasdDaemon;
  beforeAll(async () => {
    tmp = tempDir();
    daemon = await CasdDaemon.start({
      binary: casdBinary(),
      cacheDir: join(tmp.dir, 'cache'),
      reservedBytes: 0,
      quotaHighBytes: 2_000_000_000,
    });
  });
  afterAll(async () => {
    await daemon?.stop();
    tmp?.remove();
  });

  it('reads used bytes and the quota through GetLocalDiskUsage', async () => {
    const usage = await getUsage(daemon.connection());
    expect(usage.quotaBytes).toBe(2_000_000_000);
    expect(formatUsage(usage)).toMatch(/^\d+(\.\d)? [kMG]?B \/ 2\.0 GB \(\d+%\)$/);
  });

  it('keeps polling in the background and stops cleanly', async () => {
    const monitor = new UsageMonitor(daemon.connection(), { intervalMs: 10 });
    expect(monitor.latest).toBeUndefined();
    monitor.start();
    const seen = new Set<object>();
    while (seen.size < 3) {
      if (monitor.latest) seen.add(monitor.latest);
      await sleep(5);
    }
    await monitor.stop();
    const last = monitor.latest;
    expect(last?.quotaBytes).toBe(2_000_000_000);
    await sleep(100);
    // No poll after stop(): the latest answer is still the same object.
    expect(monitor.latest).toBe(last);
  });

  it('stays unknown, without throwing, while casd cannot answer', async () => {
    const logger = recordingLogger();
    const nowhere = new Connection(`unix:${join(tmp.dir, 'no-such.sock')}`);
    try {
      const monitor = new UsageMonitor(nowhere, { logger });
      expect(await monitor.refresh()).toBeUndefined();
      expect(formatUsage(monitor.latest)).toBe('unknown');
      expect(logger.at('debug')[0]).toMatch(
        /^cache usage unknown: asking buildbox-casd for its disk usage failed: UNAVAILABLE/,
      );
    } finally {
      nowhere.close();
    }
  });
});
