import { mainStep } from './action/main-step.js';
import { runStep } from './action/run-step.js';

await runStep(mainStep);
