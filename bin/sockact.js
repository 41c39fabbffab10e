#!/usr/bin/env node
// The sockact command. Kept tiny: the launch path loads only what a launch needs.
import { main } from '../dist/src/cli/main.js';

await main(process.argv.slice(2));
