import { parseArgs } from 'node:util';
import { describeError } from '../errors.js';
import { stderrLogger } from '../logger.js';
import { type Command, type OptionValues, UsageError } from './command.js';
import { COMMANDS } from './commands/index.js';
import { GLOBAL_OPTIONS, globalOptionSpec, resolveConfig } from './config.js';
import { Output } from './output.js';
import { progressMode } from './progress.js';

const PROGRAM = 'casd-action';
/** Keep in step with package.json (the bundle cannot read it at run time). */
export const VERSION = '0.1.0';

function pad(text: string, width: number): string {
  return text.length >= width ? `${text}  ` : text.padEnd(width);
}

function globalHelp(): string {
  const lines = GLOBAL_OPTIONS.map((o) => {
    const flag = `--${o.name}${o.value ? ` ${o.value}` : ''}`;
    return `  ${pad(flag, 30)}${o.help}${o.env ? ` [$${o.env}]` : ''}`;
  });
  return `global options (every command):\n${lines.join('\n')}`;
}

/** The program's usage: commands and global options. */
export function usage(): string {
  const commands = COMMANDS.map((c) => {
    const names = [c.name, ...(c.aliases ?? [])].join(', ');
    return `  ${pad(names, 16)}${c.summary}`;
  });
  return [
    `usage: ${PROGRAM} <command> [options]`,
    '',
    'A local content-addressable cache (buildbox-casd) for any CI.',
    '',
    'commands:',
    ...commands,
    '',
    globalHelp(),
    '',
    `run '${PROGRAM} <command> --help' for a command's options; exit codes: 0 ok, 1 failure, 2 usage`,
  ].join('\n');
}

/** The `--help` text of one command. */
export function commandHelp(command: Command): string {
  const options = Object.entries(command.optionHelp).map(([name, help]) => `  ${pad(name, 30)}${help}`);
  return [
    `usage: ${PROGRAM} ${command.synopsis}`,
    '',
    command.description,
    ...(options.length > 0 ? ['', 'options:', ...options] : []),
    '',
    globalHelp(),
  ].join('\n');
}

function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name || (c.aliases ?? []).includes(name));
}

/** First line of a message, for one-line usage errors. */
function oneLine(message: string): string {
  return message.split('\n')[0].trim();
}

function checkPositionals(command: Command, positionals: string[]): void {
  const [min, max] = command.positionals;
  if (positionals.length < min) {
    throw new UsageError(`missing arguments; usage: ${PROGRAM} ${command.synopsis}`);
  }
  if (positionals.length > max) {
    throw new UsageError(`unexpected argument "${positionals[max]}"; usage: ${PROGRAM} ${command.synopsis}`);
  }
}

/**
 * Runs the CLI with `args` (without node and the script) and returns the exit code:
 * 0 success, 1 failure (message on stderr), 2 wrong usage (a one-line message on stderr).
 */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) {
    process.stderr.write(`${PROGRAM}: no command given; run '${PROGRAM} --help' for the list\n`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' && rest[0] ? findCommand(rest[0]) : undefined;
    process.stdout.write(`${topic ? commandHelp(topic) : usage()}\n`);
    return 0;
  }
  if (name === '--version') {
    process.stdout.write(`${PROGRAM} ${VERSION}\n`);
    return 0;
  }
  const command = findCommand(name);
  if (!command) {
    process.stderr.write(`${PROGRAM}: unknown command "${name}"; run '${PROGRAM} --help' for the list\n`);
    return 2;
  }
  let values: OptionValues;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: rest,
      options: { ...globalOptionSpec(), ...command.options },
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values as OptionValues;
    positionals = parsed.positionals;
  } catch (err) {
    process.stderr.write(`${PROGRAM} ${command.name}: ${oneLine(describeError(err))}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  }
  try {
    checkPositionals(command, positionals);
    const config = resolveConfig(values, env);
    const logger = stderrLogger(config.verbose);
    const out = new Output({ json: config.json, progress: progressMode(env) });
    return await command.run({ command: command.name, positionals, values, config, out, logger });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${PROGRAM} ${command.name}: ${oneLine(err.message)}\n`);
      return 2;
    }
    process.stderr.write(`${PROGRAM} ${command.name}: ${describeError(err)}\n`);
    return 1;
  }
}
