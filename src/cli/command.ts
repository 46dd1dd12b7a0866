import type { Logger } from '../logger.js';
import type { CliConfig } from './config.js';
import type { Output } from './output.js';

export { type OptionSpec, type OptionValues, UsageError } from './options.js';
import type { OptionSpec, OptionValues } from './options.js';

/** What a command receives: its positionals, its option values, the resolved settings. */
export interface CommandContext {
  command: string;
  positionals: string[];
  values: OptionValues;
  config: CliConfig;
  out: Output;
  logger: Logger;
}

/** One `casd-action <name>` command. */
export interface Command {
  name: string;
  aliases?: string[];
  /** One line for the command list. */
  summary: string;
  /** `casd-action <name> ...` synopsis without the program name. */
  synopsis: string;
  /** Paragraphs after the synopsis in `--help`. */
  description: string;
  /** Command-specific options, each with a help line. */
  options: OptionSpec;
  optionHelp: Record<string, string>;
  /** Exact number of positionals, or [min, max] (max Infinity allowed). */
  positionals: [number, number];
  /** Returns the exit code (0 normally). Throws UsageError or CasError. */
  run(ctx: CommandContext): Promise<number>;
}

/** A string option's value, or undefined. */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A boolean option's value (false when absent). */
export function flagOption(values: OptionValues, name: string): boolean {
  return values[name] === true;
}
