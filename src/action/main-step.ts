import * as core from '@actions/core';
import { Inputs } from './constants.js';
import { parseInputs, SECRET_INPUTS } from './inputs.js';

/** Reads an input as the runner provides it; secrets are masked before anything is logged. */
export function readInput(name: Inputs): string {
  const value = core.getInput(name);
  if (SECRET_INPUTS.includes(name) && value.trim() !== '') core.setSecret(value.trim());
  return value;
}

/** The main step: validate inputs, then (as later work lands) install, restore and serve. */
export async function mainStep(): Promise<void> {
  for (const name of SECRET_INPUTS) readInput(name);
  const config = parseInputs(readInput);
  core.info(`casd-action: cache directory ${config.cacheDir}`);
  core.info('casd-action: install, restore and daemon start are not implemented yet');
}
