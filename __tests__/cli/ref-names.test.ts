import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RefsJson } from '../../src/cli/json.js';
import { SCHEMAS } from '../../src/cli/json.js';
import { cliJson, cliOk, runCli, tempDir } from './run-cli.js';

/** What every refusal says is accepted: the one rule of src/cas/ref-names.ts, as the action says it. */
const RULE = 'use letters, digits and ._@+=,:%- in /-separated components, like "project/branch/key"';

/** Each refused name and the start of its message. */
const REFUSED: [string, string][] = [
  ['a\nb', 'ref name "a\\nb" contains a newline'],
  ['a b', 'ref name "a b" contains a space'],
  ['$(x)', 'ref name "$(x)" contains "$", "(" and ")"'],
];

describe('ref names on the command line follow the one rule', () => {
  const tmp = tempDir('cli-refnames-');
  const cache = join(tmp.dir, 'cache');
  const src = join(tmp.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'f.txt'), 'x\n');
  afterAll(() => tmp.remove());

  /** Every command taking a ref name, with the name in place. */
  const uses = (name: string): string[][] => [
    ['capture', src, '--ref', name],
    ['checkout', name, join(tmp.dir, 'out')],
    ['diff', name, 'main'],
    ['rm', name],
    ['push', name, '--remote', 'grpc://127.0.0.1:1'],
    ['pull', name, '--remote', 'grpc://127.0.0.1:1'],
  ];

  for (const [name, message] of REFUSED) {
    it(`refuses ${JSON.stringify(name)} in every command with exit 2 and one line, touching nothing`, async () => {
      for (const args of uses(name)) {
        const result = await runCli([...args, '--cache-dir', cache]);
        expect(result.code, `${args[0]}: ${result.stderr}`).toBe(2);
        expect(result.stderr).toBe(`casd-action ${args[0]}: ${message}; ${RULE}\n`);
        expect(result.stdout).toBe('');
      }
      expect(existsSync(cache)).toBe(false);
      expect(existsSync(join(tmp.dir, 'out'))).toBe(false);
    });
  }

  it('accepts a name of letters, digits and ._@+=,:%- between slashes, and lists it as given', async () => {
    const name = 'team/main@v1.2+build=3,os:linux%20x';
    await cliOk(['capture', src, '--ref', name, '--cache-dir', cache]);
    const refs = await cliJson<RefsJson>(['refs', '--cache-dir', cache], SCHEMAS.refs);
    expect(refs.refs.map((r) => r.name)).toEqual([name]);
    expect((await cliOk(['rm', name, '--cache-dir', cache])).stdout).toBe(`removed ${name}\n`);
  });
});
