#!/usr/bin/env node
// The sockact command. Kept tiny: the launch path loads only what a launch needs, from one
// bundled file (dist/src/cli/main.bundle.js, built by `npm run build`), read after V8's compile
// cache is on (Node 22.1+; src/cli/compile-cache.ts says where it lives and why). On an older
// Node the cache's module is not even loaded: each ES module is a file to resolve and read.
if (typeof process.getBuiltinModule !== 'function') {
  process.stderr.write(`sockact: needs Node 20.16, 22.3 or later; this is ${process.version}\n`);
  process.exit(1);
}
const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 1)) (await import('../dist/src/cli/compile-cache.js')).useCompileCache();
const { main } = await import('../dist/src/cli/main.bundle.js');
await main(process.argv.slice(2));
