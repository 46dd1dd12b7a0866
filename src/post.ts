import { postStep } from './action/post-step.js';
import { runStep } from './action/run-step.js';

await runStep(postStep);
