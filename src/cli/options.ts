import type { ParseArgsConfig } from 'node:util';

// The command line's vocabulary, below both the commands and the settings they parse.

/** Options of one command, in node:util parseArgs form. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Parsed option values, as parseArgs returns them. */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Wrong use of the command line: exit code 2 and a one-line message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
