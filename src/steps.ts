import { mainStep } from './action/main-step.js';
import { postStep } from './action/post-step.js';
import { runStep } from './action/run-step.js';
import { saveStep } from './action/save-step.js';

/** The action's steps by the name of their dist/ directory (restore: main without a post). */
const STEPS = { main: mainStep, post: postStep, restore: mainStep, save: saveStep } as const;

export type StepName = keyof typeof STEPS;

/**
 * Runs one step of the action. Every step is this one bundle (dist/steps), which each
 * dist/<step>/index.js loads: the action's checkout carries one bundle, not four.
 */
export async function runEntry(name: StepName): Promise<void> {
  await runStep(STEPS[name]);
}
