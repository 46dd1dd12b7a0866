import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { casdVersion, makeSocketDir, parseCasdVersion, parseListen } from '../../src/casd/index.js';
import { removeSocketDir } from '../../src/casd/socket.js';
import { CasError } from '../../src/errors.js';
import { casdBinary } from '../helpers/casd.js';
import { tempDir } from './support.js';

describe('socket directory', () => {
  let made: string | undefined;
  afterEach(() => removeSocketDir(made));

  it('is private (0700) under the temp dir given', () => {
    const tmp = tempDir();
    try {
      const { dir, socketPath } = makeSocketDir(tmp.dir);
      made = dir;
      expect(dir.startsWith(tmp.dir)).toBe(true);
      expect(socketPath).toBe(join(dir, 'casd.sock'));
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    } finally {
      tmp.remove();
    }
  });

  it('falls back to /tmp when the temp dir would make the socket path too long', () => {
    const { dir, socketPath } = makeSocketDir(`/tmp/${'x'.repeat(120)}`);
    made = dir;
    expect(dir.startsWith('/tmp/casd-')).toBe(true);
    expect(Buffer.byteLength(socketPath)).toBeLessThanOrEqual(107);
  });
});

describe('parseListen', () => {
  it('splits host and port, keeping 0 for "pick one"', () => {
    expect(parseListen('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListen('[::1]:8980')).toEqual({ host: '[::1]', port: 8980 });
  });

  it('rejects a port out of range, quoting the value', () => {
    expect(() => parseListen('127.0.0.1:70000')).toThrow(CasError);
    expect(() => parseListen('127.0.0.1:70000')).toThrow(
      'listen address "127.0.0.1:70000" is not host:port with a port from 0 to 65535, e.g. 127.0.0.1:0',
    );
  });
});

describe('casd version', () => {
  it('parses the version out of "buildbox-casd 1.4.30"', () => {
    expect(parseCasdVersion('buildbox-casd 1.4.30\n')).toBe('1.4.30');
    expect(parseCasdVersion('no version here')).toBeUndefined();
  });

  it('asks the real binary', async () => {
    expect(await casdVersion(casdBinary())).toBe('1.4.30');
  });

  it('names a binary that cannot run', async () => {
    await expect(casdVersion('/nonexistent/buildbox-casd')).rejects.toThrow(
      /^cannot get the version of \/nonexistent\/buildbox-casd: spawn \/nonexistent\/buildbox-casd ENOENT/,
    );
  });
});
