/** Usage of the CLI; commands land as later work does. */
export const USAGE = `usage: casd-action <command> [options]

commands: start, stop, status, usage, capture, checkout, diff, refs, rm, push, pull, serve, gc
run 'casd-action <command> --help' for a command's options`;

/** Runs the CLI with `args`; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function runCli(args: string[]): Promise<number> {
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return args.length === 0 ? 2 : 0;
  }
  process.stderr.write(`casd-action: command "${args[0]}" is not implemented yet\n${USAGE}\n`);
  return 2;
}
