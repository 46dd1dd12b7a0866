import { runStep } from './action/run-step.js';
import { saveStep } from './action/save-step.js';

await runStep(saveStep);
