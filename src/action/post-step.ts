import * as core from '@actions/core';

/** The post step: (as later work lands) capture, push, persist, stop, summarise. */
export async function postStep(): Promise<void> {
  core.info('casd-action post: nothing to do yet (not implemented yet)');
}
