// `npm run build`: dist/ from src/ with tsc, then the two bundles with esbuild: the app side
// (dist/src/index.bundle.js, what `import 'sockact'` loads) and the CLI (dist/src/cli/main.bundle.js).
//
// Each bundle is what every run of its entry point needs. What the code reaches only by import()
// (a feature some options, subcommands or calls use) goes into one chunk beside it,
// <name>.lazy.js, read on the first such import(); code both need goes into <name>.shared.js,
// which the bundle imports. Two entry points make at most these three files, where esbuild's own
// splitting makes a chunk per import() target and per set of importers (dozens of files for the
// CLI, each a file read and a module record at start). Parsing is most of an ES module's load
// cost (3 to 4 ms per 100 kB on the 2-core machine of BENCHMARKS.md), so a plain launch then
// parses only what it runs.
//
// Node's built-in modules reach the bundles through process.getBuiltinModule() (Node 20.16, 22.3),
// not `import ... from 'node:fs'`. An ES import of a built-in makes Node build an ES facade of it,
// which reads every export, and some of Node's exports are getters that load whole subsystems:
// the facades of node:fs and node:util alone pull in streams, fs/promises, parseArgs and MIMEType,
// about 4 ms of every start. getBuiltinModule() returns the module itself, as require() does,
// without the CommonJS loader that createRequire(import.meta.url) sets up (about 1 ms). The
// modules Node has not loaded at start (node:net and the like) are loaded only when a property
// is first read, so an app that never listens through sockact never loads node:net.
// BENCHMARKS.md "A plain launch" has the figures.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';

const require = createRequire(import.meta.url);
const root = new URL('..', import.meta.url).pathname;

/** Built-ins a run may never need, or needs only after its start: loaded on first use. */
const LAZY = new Set([
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'http',
  'https',
  'net',
  'perf_hooks',
  'readline',
  'stream',
  'tls',
  'v8',
  'vm',
  'worker_threads',
]);

/** The names dist/ imports from each built-in (`import { a, b as c } from 'node:x'`): the shims export those. */
function importedNames() {
  const names = new Map();
  for (const file of readdirSync(`${root}dist/src`, { recursive: true })) {
    if (!file.endsWith('.js')) continue;
    const text = readFileSync(`${root}dist/src/${file}`, 'utf8');
    for (const [, list, mod] of text.matchAll(/^import \{([^}]*)\} from '(?:node:)?([a-z_/]+)';$/gm)) {
      if (!names.has(mod)) names.set(mod, new Set());
      for (const item of list.split(',')) if (item.trim()) names.get(mod).add(item.trim().split(/\s+as\s+/)[0]);
    }
  }
  return names;
}

/** The module that stands for built-in `name` in a bundle; `lazy`: load it on first use. */
function builtinShim(name, lazy) {
  const spec = JSON.stringify(`node:${name}`);
  const head = `import { __require } from '@require';\n`;
  if (lazy) {
    // Only a default export: named imports of a lazy module fail the build (import the default).
    return `${head}let __m;\nconst __load = () => (__m ??= __require(${spec}));
export default new Proxy({}, {
  get: (_, key) => __load()[key],
  has: (_, key) => key in __load(),
  ownKeys: () => Reflect.ownKeys(__load()),
  getOwnPropertyDescriptor: (_, key) => ({ ...Reflect.getOwnPropertyDescriptor(__load(), key), configurable: true }),
});\n`;
  }
  // Named exports for what dist/ imports by name: reading every export (fs.promises) is what loads more.
  const names = [...(imported.get(name) ?? [])].filter((k) => k !== 'default');
  const exports = names.map((k) => `export const ${k} = __m.${k};`).join('\n');
  return `${head}const __m = __require(${spec});\nexport default __m;\n${exports}\n`;
}

/** What every shim loads its built-in with; on a Node without it, the one line that says so. */
const REQUIRE_SHIM = `if (typeof process.getBuiltinModule !== 'function')
  throw new Error(\`sockact needs Node 20.16, 22.3 or later (process.getBuiltinModule); this is \${process.version}\`);
export const __require = (name) => process.getBuiltinModule(name);
`;

/** The esbuild plugin: built-ins by process.getBuiltinModule(), those in `lazy` on first use. */
const builtins = (lazy) => ({
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      // import('node:x') already loads x only when it runs: it stays as it is.
      if (args.kind === 'dynamic-import') return { path: args.path, external: true };
      const name = args.path.replace(/^node:/, '');
      return { path: name, namespace: 'builtin' };
    });
    b.onResolve({ filter: /^@require$/ }, () => ({ path: '@require', namespace: 'builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: args.path === '@require' ? REQUIRE_SHIM : builtinShim(args.path, lazy.has(args.path)),
      loader: 'js',
    }));
  },
});

/** `import('./x.js')` as tsc writes it: a relative module of dist/src, loaded when the call runs. */
const DYNAMIC_IMPORT = /\bimport\((['"])(\.{1,2}\/[^'"]+\.js)\1\)/g;

/** The name a module of dist/src has in the lazy chunk's namespace: `dist/src/app/fdpass.js` -> `app_fdpass`. */
const keyOf = (file) =>
  relative(`${root}dist/src`, file)
    .replace(/\.js$/, '')
    .replace(/[^A-Za-z0-9]/g, '_');

/**
 * The esbuild plugin that gathers every module reached by import() into one entry point,
 * `@lazy`, which re-exports each as a namespace: `import('./x.js')` becomes
 * `import('@lazy').then((m) => m.x)`. `lazy` collects those modules (file -> key).
 */
const lazyChunk = (lazy) => ({
  name: 'one-lazy-chunk',
  setup(b) {
    b.onResolve({ filter: /^@lazy$/ }, () => ({ path: '@lazy', namespace: 'lazy' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: [...lazy].map(([file, key]) => `export * as ${key} from ${JSON.stringify(file)};\n`).join(''),
      loader: 'js',
      resolveDir: root,
    }));
    b.onLoad({ filter: /\/dist\/src\/.*\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8').replace(DYNAMIC_IMPORT, (_, _q, spec) => {
        const file = resolve(dirname(args.path), spec);
        const key = keyOf(file);
        lazy.set(file, key);
        return `import('@lazy').then((m) => m.${key})`;
      });
      return { contents: text, loader: 'js' };
    });
  },
});

/**
 * Bundle `entry` as `<outdir>/<name>.bundle.js`, with `<name>.lazy.js` and `<name>.shared.js`
 * beside it when it reaches modules by import(). A module reached both ways would sit in the
 * bundle or the shared chunk anyway, and loading it by import() would read the lazy chunk for
 * nothing: the build refuses that (import it statically).
 */
async function bundle(entry, outdir, name) {
  const lazy = new Map();
  const options = {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    external: ['koffi', 'yargs', 'yargs/*'],
    plugins: [builtins(LAZY), lazyChunk(lazy)],
  };
  // A first pass finds what is reached by import(); the second writes the files.
  await build({ ...options, entryPoints: [entry], write: false, outdir });
  const entryPoints = { [`${name}.bundle`]: entry };
  if (lazy.size > 0) entryPoints[`${name}.lazy`] = '@lazy';
  const result = await build({
    ...options,
    entryPoints,
    outdir,
    splitting: true,
    chunkNames: `${name}.shared`,
    metafile: true,
  });
  for (const [out, meta] of Object.entries(result.metafile.outputs)) {
    if (out.endsWith(`${name}.lazy.js`)) continue;
    for (const file of lazy.keys()) {
      if (relative(root, file) in meta.inputs)
        throw new Error(`${relative(root, file)} is loaded by import() but ${out} holds it: import it statically`);
    }
  }
}

/**
 * The CLI once more as one CommonJS file, dist/src/cli/main.cjs, for a Node without a compile
 * cache (before 22.1): bin/sockact.js runs it through vm.Script with V8's cached data
 * (src/cli/compile-cache.ts), which only a classic script can take. import() targets are inlined.
 */
async function commonJsCli() {
  await build({
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
    external: ['koffi', 'yargs', 'yargs/*'],
    plugins: [builtins(LAZY)],
    entryPoints: ['dist/src/cli/main.js'],
    outfile: 'dist/src/cli/main.cjs',
    define: { 'import.meta.url': '__sockact_url' },
    // "use strict" first: the file stays a strict script, as the ES modules it is built from were.
    banner: { js: '"use strict";\nconst __sockact_url = require("node:url").pathToFileURL(__filename).href;' },
  });
}

rmSync(`${root}dist`, { recursive: true, force: true });
execFileSync(require.resolve('typescript/bin/tsc'), ['-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
const imported = importedNames();
await bundle('dist/src/index.js', 'dist/src', 'index');
await bundle('dist/src/cli/main.js', 'dist/src/cli', 'main');
await commonJsCli();
