#!/usr/bin/env node
// The sockact command. Kept tiny: the launch path loads only what a launch needs, from one
// bundled file (dist/src/cli/main.bundle.js, built by `npm run build`), read after V8's compile
// cache is on (Node 22.1+). On an older Node the CLI's CommonJS build runs with V8's cached data
// instead (dist/src/cli/main.cjs); src/cli/compile-cache.ts says where the caches live and why.
if (typeof process.getBuiltinModule !== 'function') {
  process.stderr.write(`sockact: needs Node 20.16, 22.3 or later; this is ${process.version}\n`);
  process.exit(1);
}
const cache = await import('../dist/src/cli/compile-cache.js');
let cli;
if (cache.NODE_HAS_COMPILE_CACHE) {
  cache.useCompileCache();
  cli = await import('../dist/src/cli/main.bundle.js');
} else {
  cli = cache.runCachedCli(new URL('../dist/src/cli/main.cjs', import.meta.url).pathname);
}
await cli.main(process.argv.slice(2));
