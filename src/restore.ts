import { mainStep } from './action/main-step.js';
import { runStep } from './action/run-step.js';

// The restore sub-action: the main step, with no post step; the save sub-action ends the session.
await runStep(mainStep);
