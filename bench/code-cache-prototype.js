// Issue 15, Node 20: what a code cache of sockact's own would give where Node has none. A
// prototype, not shipped: esbuild's CommonJS build of the CLI (dist/src/cli/main.js, one file),
// run by a small bin through vm.Script with V8 cached data that the first run writes at exit, as
// v8-compile-cache did before Node 22. Paired against the launcher before the supervisor
// (SOCKACT_PRE_SUPERVISOR, as bench/plain-launch.js) and this build, `ROUNDS` rounds of
// `sockact -q -l 127.0.0.1:0 -- /bin/true`, every child without NODE_EXTRA_CA_CERTS.
// What a real one needs beyond this (BENCHMARKS.md, "A plain launch"): the cache keyed by the
// bundle's identity (V8 checks a cache against the source's length only), a private directory,
// an atomic write.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { median, paired, root, sockactBin, timeSync } from './lib.js';

const BIN = `#!/usr/bin/env node
const { readFileSync, writeFileSync, renameSync } = process.getBuiltinModule('node:fs');
const vm = process.getBuiltinModule('node:vm');
const file = new URL('../main.cjs', import.meta.url).pathname;
const cacheFile = new URL('../main.v8cache', import.meta.url).pathname;
let cachedData;
try { cachedData = readFileSync(cacheFile); } catch {}
const wrapper = \`(function (exports, require, module, __filename, __dirname) {\${readFileSync(file, 'utf8')}\\n})\`;
const script = new vm.Script(wrapper, { filename: file, cachedData });
const module = { exports: {} };
const require = process.getBuiltinModule('node:module').createRequire(file);
script.runInThisContext()(module.exports, require, module, file, file.replace(/\\/[^/]*$/, ''));
if (cachedData === undefined || script.cachedDataRejected)
  process.once('exit', () => {
    writeFileSync(\`\${cacheFile}.tmp\`, script.createCachedData());
    renameSync(\`\${cacheFile}.tmp\`, cacheFile);
  });
await module.exports.main(process.argv.slice(2));
`;

/** The prototype in a temporary directory beside dist/src/cli (its relative paths hold): its bin. */
async function prototype() {
  const dir = mkdtempSync(join(root, 'dist/src/cli/.code-cache-'));
  await build({
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'error',
    external: ['koffi', 'yargs', 'yargs/*'],
    entryPoints: ['dist/src/cli/main.js'],
    outfile: join(dir, 'main.cjs'),
    define: { 'import.meta.url': '__import_meta_url' },
    banner: { js: 'const __import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  });
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'sockact.js'), BIN);
  return { dir, bin: join(dir, 'bin', 'sockact.js') };
}

const lifecycle = (bin) => timeSync(process.execPath, [bin, '-q', '-l', '127.0.0.1:0', '--', '/bin/true']).ms;

export async function run({ rounds = 41 } = {}) {
  const pre = process.env.SOCKACT_PRE_SUPERVISOR;
  if (!pre || !existsSync(pre)) throw new Error('set SOCKACT_PRE_SUPERVISOR as for bench/plain-launch.js');
  const p = await prototype();
  try {
    lifecycle(p.bin); // the first run writes the cache
    const r = await paired(rounds, {
      pre: () => lifecycle(pre),
      now: () => lifecycle(sockactBin),
      proto: () => lifecycle(p.bin),
    });
    const m = Object.fromEntries(Object.entries(r.times).map(([k, v]) => [k, median(v)]));
    return { node: process.version, rounds, ms: m, now: m.now / m.pre, prototype: m.proto / m.pre };
  } finally {
    rmSync(p.dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run({ rounds: Number(process.env.ROUNDS ?? 41) }), null, 2));
}
