#!/usr/bin/env node
// The sockact command. Kept tiny: the launch path loads only what a launch needs, from one
// bundled file (dist/src/cli/main.bundle.js, built by `npm run build`), read after V8's compile
// cache is on (Node 22.1+; src/cli/compile-cache.ts says where it lives and why).
import { useCompileCache } from '../dist/src/cli/compile-cache.js';

if (typeof process.getBuiltinModule !== 'function') {
  process.stderr.write(`sockact: needs Node 20.16, 22.3 or later; this is ${process.version}\n`);
  process.exit(1);
}
useCompileCache();
const { main } = await import('../dist/src/cli/main.bundle.js');
await main(process.argv.slice(2));
