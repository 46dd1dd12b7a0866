import { CasError } from '../../errors.js';

// One rule for ref names, used by the store (RefStore), the action's inputs and the CLI. A
// ref name is a relative path under refs/heads, an action output line (`restored-refs` joins
// names with newlines) and a word people paste into shells and workflow files, so besides
// never escaping refs/heads it holds only characters that mean nothing to any of them.

/** The characters a ref name may hold, as the error message lists them. */
export const REF_NAME_CHARACTERS = 'letters, digits and ._@+=,:%-';

const ALLOWED = /^[A-Za-z0-9._@+=,:%/-]$/;

/** Characters whose usual rendering in a message would hide what they are. */
const NAMED: Record<string, string> = {
  ' ': 'a space',
  '\n': 'a newline',
  '\r': 'a carriage return',
  '\t': 'a tab',
  '\0': 'a NUL character',
  '\\': 'a backslash',
};

function describeCharacter(c: string): string {
  if (NAMED[c]) return NAMED[c];
  const code = c.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f) {
    return `the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return JSON.stringify(c);
}

/** `a`, `a and b`, `a, b and c`. */
function list(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/**
 * What is wrong with `name` as a ref name ("contains a space", "is absolute", ...), or
 * undefined when it is a valid one: non-empty, made of REF_NAME_CHARACTERS in `/`-separated
 * components, none empty, `.` or `..` (so it is relative and never leaves refs/heads).
 */
export function refNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  const bad = [...new Set(Array.from(name).filter((c) => !ALLOWED.test(c)))];
  if (bad.length > 0) return `contains ${list(bad.map(describeCharacter))}`;
  if (name.startsWith('/')) return 'is absolute';
  const part = name.split('/').find((p) => p === '' || p === '.' || p === '..');
  if (part === '') return 'has an empty path component';
  if (part !== undefined) return `has a "${part}" path component`;
  return undefined;
}

/**
 * Throws CasError('invalid-ref') naming `name` (JSON-quoted, so the message stays one line),
 * what is wrong with it and what is accepted, unless refNameProblem finds nothing.
 */
export function validateRefName(name: string): void {
  const problem = refNameProblem(name);
  if (problem === undefined) return;
  throw new CasError(
    'invalid-ref',
    `ref name ${JSON.stringify(name)} ${problem}; use ${REF_NAME_CHARACTERS} in /-separated components, like "project/branch/key"`,
  );
}

/**
 * `text` (any string: an actions/cache key, a prefix) as one valid ref name component:
 * encodeURIComponent, plus the five characters it leaves alone that a ref name may not hold
 * (`!'()*~`). decodeURIComponent turns it back.
 */
export function encodeRefComponent(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*~]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
