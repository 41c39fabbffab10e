// Writes docs/cli.md from the option table (src/cli/options.ts), through the built dist/.
// Run as `npm run docs:cli`, which builds first; test/cli/reference.test.ts fails when it is stale.
import { writeFileSync } from 'node:fs';
import { cliReference } from '../dist/src/cli/reference.js';

const path = new URL('../docs/cli.md', import.meta.url);
writeFileSync(path, cliReference());
process.stdout.write(`wrote ${path.pathname}\n`);
