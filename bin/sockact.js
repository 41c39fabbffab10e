#!/usr/bin/env node
// The sockact command. Kept tiny: the launch path loads only what a launch needs, from one
// bundled file (dist/src/cli/main.bundle.js, built by `npm run build`).
import { main } from '../dist/src/cli/main.bundle.js';

await main(process.argv.slice(2));
