// `npm run build`: dist/ from src/ with tsc, then the two bundles with esbuild: the app side
// (dist/src/index.bundle.js, what `import 'sockact'` loads) and the CLI (dist/src/cli/main.bundle.js).
//
// Node's built-in modules reach the bundles through require(), not `import ... from 'node:fs'`.
// An ES import of a built-in makes Node build an ES facade of it, which reads every export, and
// some of Node's exports are getters that load whole subsystems: the facades of node:fs and
// node:util alone pull in streams, fs/promises, parseArgs and MIMEType, about 4 ms of every
// start. require() returns the module itself. The modules Node has not loaded at start (node:net
// and the like) are loaded only when a property is first read, so an app that never listens
// through sockact never loads node:net. BENCHMARKS.md "A plain launch" has the figures.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';

const require = createRequire(import.meta.url);
const root = new URL('..', import.meta.url).pathname;

/** Built-ins an activated app may never need: loaded on first use (the CLI loads child_process at once). */
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

/** The esbuild plugin: built-ins by require(), those in `lazy` on first use. */
const builtins = (lazy) => ({
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      // import('node:x') already loads x only when it runs: it stays as it is.
      if (args.kind === 'dynamic-import') return { path: args.path, external: true };
      const name = args.path.replace(/^node:/, '');
      // The one require() the shims share imports node:module as an ES module: the way to require().
      if (args.namespace === 'builtin' && args.importer === '@require') return { path: 'node:module', external: true };
      return { path: name, namespace: 'builtin' };
    });
    b.onResolve({ filter: /^@require$/ }, () => ({ path: '@require', namespace: 'builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents:
        args.path === '@require'
          ? `import { createRequire } from 'node:module';\nexport const __require = createRequire(import.meta.url);\n`
          : builtinShim(args.path, lazy.has(args.path)),
      loader: 'js',
    }));
  },
});

rmSync(`${root}dist`, { recursive: true, force: true });
execFileSync(require.resolve('typescript/bin/tsc'), ['-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
const imported = importedNames();
// Every launch spawns: the CLI loads child_process at once (and imports its spawn by name).
const CLI_LAZY = new Set([...LAZY].filter((m) => m !== 'child_process'));
for (const [entry, outfile, lazy] of [
  ['dist/src/index.js', 'dist/src/index.bundle.js', LAZY],
  ['dist/src/cli/main.js', 'dist/src/cli/main.bundle.js', CLI_LAZY],
]) {
  await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    external: ['koffi', 'yargs', 'yargs/*'],
    plugins: [builtins(lazy)],
  });
}
