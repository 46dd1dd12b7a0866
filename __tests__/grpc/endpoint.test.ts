import { describe, expect, it } from 'vitest';
import { isCasError } from '../../src/errors.js';
import {
  ACCEPTED_ENDPOINT_FORMS,
  type Endpoint,
  casdRemoteUrl,
  formatEndpoint,
  parseEndpoint,
} from '../../src/grpc/endpoint.js';

type Expected = Omit<Endpoint, 'text'> & { casd: string; formatted: string };

const accepted: Array<[string, Expected]> = [
  [
    'unix:/tmp/casd.sock',
    {
      kind: 'unix',
      secure: false,
      target: 'unix:///tmp/casd.sock',
      socketPath: '/tmp/casd.sock',
      casd: 'unix:/tmp/casd.sock',
      formatted: 'unix:/tmp/casd.sock',
    },
  ],
  [
    'unix:///tmp/casd.sock',
    {
      kind: 'unix',
      secure: false,
      target: 'unix:///tmp/casd.sock',
      socketPath: '/tmp/casd.sock',
      casd: 'unix:/tmp/casd.sock',
      formatted: 'unix:/tmp/casd.sock',
    },
  ],
  [
    'unix:run/casd.sock',
    {
      kind: 'unix',
      secure: false,
      target: 'unix:run/casd.sock',
      socketPath: 'run/casd.sock',
      casd: 'unix:run/casd.sock',
      formatted: 'unix:run/casd.sock',
    },
  ],
  [
    'grpc://cache.example:8980',
    {
      kind: 'tcp',
      secure: false,
      target: 'cache.example:8980',
      host: 'cache.example',
      port: 8980,
      casd: 'http://cache.example:8980',
      formatted: 'grpc://cache.example:8980',
    },
  ],
  [
    'grpcs://cache.example',
    {
      kind: 'tcp',
      secure: true,
      target: 'cache.example:443',
      host: 'cache.example',
      port: 443,
      casd: 'https://cache.example:443',
      formatted: 'grpcs://cache.example:443',
    },
  ],
  [
    'grpcs://cache.example:1443',
    {
      kind: 'tcp',
      secure: true,
      target: 'cache.example:1443',
      host: 'cache.example',
      port: 1443,
      casd: 'https://cache.example:1443',
      formatted: 'grpcs://cache.example:1443',
    },
  ],
  [
    'http://127.0.0.1:50051/',
    {
      kind: 'tcp',
      secure: false,
      target: '127.0.0.1:50051',
      host: '127.0.0.1',
      port: 50051,
      casd: 'http://127.0.0.1:50051',
      formatted: 'grpc://127.0.0.1:50051',
    },
  ],
  [
    'https://cache.example',
    {
      kind: 'tcp',
      secure: true,
      target: 'cache.example:443',
      host: 'cache.example',
      port: 443,
      casd: 'https://cache.example:443',
      formatted: 'grpcs://cache.example:443',
    },
  ],
  [
    'GRPC://[::1]:8980',
    {
      kind: 'tcp',
      secure: false,
      target: '[::1]:8980',
      host: '[::1]',
      port: 8980,
      casd: 'http://[::1]:8980',
      formatted: 'grpc://[::1]:8980',
    },
  ],
  [
    '  grpc://localhost:65535  ',
    {
      kind: 'tcp',
      secure: false,
      target: 'localhost:65535',
      host: 'localhost',
      port: 65535,
      casd: 'http://localhost:65535',
      formatted: 'grpc://localhost:65535',
    },
  ],
];

describe('parseEndpoint accepts', () => {
  it.each(accepted)('%s', (text, expected) => {
    const { casd, formatted, ...fields } = expected;
    const endpoint = parseEndpoint(text);
    expect(endpoint).toEqual({ text: text.trim(), ...fields });
    expect(casdRemoteUrl(endpoint)).toBe(casd);
    expect(formatEndpoint(endpoint)).toBe(formatted);
  });

  it('formatted endpoints parse back to the same target', () => {
    for (const [text] of accepted) {
      const endpoint = parseEndpoint(text);
      expect(parseEndpoint(formatEndpoint(endpoint)).target).toBe(endpoint.target);
    }
  });
});

const rejected: Array<[string, string]> = [
  ['', 'is empty'],
  ['   ', 'is empty'],
  ['unix:', 'has no socket path'],
  ['unix://relative/casd.sock', 'must use unix:///absolute/path'],
  ['cache.example:8980', 'has no scheme'],
  ['/tmp/casd.sock', 'has no scheme'],
  ['ftp://cache.example:21', 'has unknown scheme "ftp"'],
  ['grpc://cache.example:8980/main', 'must not have a path'],
  ['grpc://', 'has no host'],
  ['grpc:///', 'has no host'],
  ['grpc://cache example:1', 'has no valid host in "cache example:1"'],
  ['grpc://user@cache.example:1', 'has no valid host in "user@cache.example:1"'],
  ['grpc://::1:8980', 'has no valid host in "::1:8980"'],
  ['grpc://cache.example:port', 'has port "port", expected a number in 1-65535'],
  ['grpc://cache.example:', 'has port "", expected a number in 1-65535'],
  ['grpc://cache.example:0', 'has port "0", expected a number in 1-65535'],
  ['grpc://cache.example:65536', 'has port "65536", expected a number in 1-65535'],
  ['grpcs://cache.example:-1', 'has port "-1", expected a number in 1-65535'],
  ['grpc://cache.example', 'needs a port'],
  ['http://cache.example', 'needs a port'],
];

describe('parseEndpoint rejects', () => {
  it.each(rejected)('"%s" (%s), quoting it and listing the accepted forms', (text, why) => {
    let caught: unknown;
    try {
      parseEndpoint(text);
    } catch (err) {
      caught = err;
    }
    expect(isCasError(caught, 'invalid-endpoint')).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain(`endpoint "${text}"`);
    expect(message).toContain(why);
    expect(message).toContain(`accepted forms: ${ACCEPTED_ENDPOINT_FORMS}`);
  });

  it('lists every scheme in the accepted forms', () => {
    for (const scheme of ['unix:/', 'unix:///', 'grpc://', 'grpcs://', 'http://', 'https://']) {
      expect(ACCEPTED_ENDPOINT_FORMS).toContain(scheme);
    }
  });
});
