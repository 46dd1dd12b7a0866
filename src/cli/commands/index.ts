import type { Command } from '../command.js';
import { serveCommand, settingsCommand, startCommand, statusCommands, stopCommand } from './daemon.js';
import { gcCommands } from './gc.js';
import { pullCommand, pushCommand } from './remote.js';
import { captureCommand, checkoutCommand, diffCommand, refsCommand, rmCommand } from './store.js';
import { verifyCommand } from './verify.js';

/** Every command, in the order `--help` lists them. */
export const COMMANDS: Command[] = [
  startCommand,
  stopCommand,
  ...statusCommands,
  captureCommand,
  checkoutCommand,
  diffCommand,
  refsCommand,
  rmCommand,
  verifyCommand,
  pushCommand,
  pullCommand,
  serveCommand,
  settingsCommand,
  ...gcCommands,
];
