import * as core from '@actions/core';
import type { Logger } from '../logger.js';

/** The library's Logger on top of the runner's log commands. */
export const actionsLogger: Logger = {
  debug: (message) => core.debug(message),
  info: (message) => core.info(message),
  warning: (message) => core.warning(message),
  error: (message) => core.error(message),
};
