#!/usr/bin/env node
import { boundHeapGrowth } from '../util/memory.js';
import { runCli } from './run.js';

boundHeapGrowth();
process.exitCode = await runCli(process.argv.slice(2));
