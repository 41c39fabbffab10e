import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from './_support/launcher.js';

/*
 * The dependency rules of the layout (docs/development.md, "Layout"), read from the sources themselves so that a
 * broken rule fails here instead of in review:
 * - sys/ (the only libc caller) imports node: builtins, koffi, sys/, and protocol/sockaddr.ts
 *   (the pure byte codec of the socket addresses it hands to the kernel), nothing else.
 * - protocol/ (pure parsing and formatting) imports protocol/ and node:path only.
 * - app/ (what an activated program imports) imports node: builtins, app/, protocol/, sys/.
 * - launch/ never imports supervise/ or cli/; supervise/ never imports cli/.
 * - launch/ and supervise/ never call process.exit(): only cli/ decides how the process ends.
 * - the package entry (src/index.ts, and the bundle built from it) reaches app, protocol and sys
 *   only: no launch/, supervise/, cli/, no yargs.
 * - no import cycles.
 * - Node's private internals (_handle, _connections, the HTTP parser, ...) are touched in
 *   app/node-internals.ts only.
 * - errors come from one module: SockactError (protocol/errors.ts) is the only error class, no
 *   plain Error is thrown, and every ERR_* code written in src/ is one of SockactErrorCode.
 * - /proc is read only in sys/.
 */

const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The source without comments, so that a comment mentioning an import is not one. */
function code(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
}

/** Every module specifier a file names: static and type imports, re-exports, import(), require(). */
function specifiers(text: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\b[^;']*?\bfrom\s*'([^']+)'/gm, // import x from '..', export { x } from '..'
    /^\s*import\s*'([^']+)'/gm, // import '..' for its side effects
    /\bimport\(\s*'([^']+)'\s*\)/g, // await import('..'), typeof import('..')
    /\brequire\(\s*'([^']+)'\s*\)/g,
    /\bcreateRequire\([^)]*\)\(\s*'([^']+)'\s*\)/g,
    /\bgetBuiltinModule\(\s*'([^']+)'\s*\)/g, // process.getBuiltinModule('node:net')
  ];
  return patterns.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!));
}

/** 'sys/fd.ts' for a relative specifier that resolves inside src/, else the specifier as written. */
function target(from: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  const abs = resolve(dirname(from), spec).replace(/\.js$/, '.ts');
  return relative(SRC, abs);
}

const FILES = sourceFiles(SRC);
const GRAPH = new Map(FILES.map((f) => [relative(SRC, f), [...new Set(specifiers(code(f)).map((s) => target(f, s)))]]));

const isBuiltin = (t: string) => t.startsWith('node:') || builtinModules.includes(t);
const layer = (t: string) => (t.includes('/') && !t.startsWith('node:') && GRAPH.has(t) ? t.split('/')[0]! : undefined);

/** Imports of files under `folder` that `allowed` refuses, as "file -> target" lines. */
function violations(folder: string, allowed: (t: string) => boolean): string[] {
  return [...GRAPH]
    .filter(([f]) => f.startsWith(`${folder}/`))
    .flatMap(([f, ts]) => ts.filter((t) => !allowed(t)).map((t) => `${f} -> ${t}`));
}

describe('dependency rules', () => {
  it('reads the imports it checks', () => {
    // The parser must see each kind of import, or every rule below passes vacuously.
    expect(GRAPH.get('index.ts')).toContain('app/listen.ts');
    expect(GRAPH.get('cli/main.ts')).toContain('launch/spawn.ts'); // import('../launch/spawn.js')
    expect(GRAPH.get('cli/usage.ts')).toContain('yargs/yargs'); // createRequire(...)('yargs-parser')
    expect(GRAPH.get('protocol/ip.ts')).toContain('protocol/sockaddr.ts');
    expect(specifiers("export { a } from './a.js';\nimport type { B } from '../b.js';\nimport './c.js';")).toEqual([
      './a.js',
      '../b.js',
      './c.js',
    ]);
    // Every relative import names a file that exists.
    expect([...GRAPH.values()].flat().filter((t) => t.endsWith('.ts') && !GRAPH.has(t))).toEqual([]);
  });

  it('sys/ imports only node builtins, koffi, sys/, the pure sockaddr codec and the error type', () => {
    const allowed = (t: string) =>
      isBuiltin(t) ||
      t === 'koffi' ||
      t.startsWith('sys/') ||
      t === 'protocol/sockaddr.ts' ||
      t === 'protocol/errors.ts';
    expect(violations('sys', allowed)).toEqual([]);
  });

  it('protocol/ imports only protocol/ and node:path', () => {
    expect(violations('protocol', (t) => t.startsWith('protocol/') || t === 'node:path')).toEqual([]);
  });

  it('app/ imports only node builtins, app/, protocol/ and sys/', () => {
    expect(violations('app', (t) => isBuiltin(t) || ['app', 'protocol', 'sys'].includes(layer(t) ?? ''))).toEqual([]);
  });

  it('launch/ never imports supervise/ or cli/; supervise/ never imports cli/', () => {
    expect(violations('launch', (t) => !['supervise', 'cli'].includes(layer(t) ?? ''))).toEqual([]);
    expect(violations('supervise', (t) => layer(t) !== 'cli')).toEqual([]);
  });

  it('only cli/ ends the process: no process.exit() in launch/ or supervise/', () => {
    const calls = FILES.filter((f) => /\/src\/(launch|supervise)\//.test(f) && /\bprocess\.exit\s*\(/.test(code(f)));
    expect(calls.map((f) => relative(SRC, f))).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const t of GRAPH.get(f) ?? []) if (GRAPH.has(t)) visit(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of GRAPH.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });
});

describe("Node's private internals", () => {
  /**
   * Private members sockact reaches: `._handle`, `._connections`, `.parser`, the ConnectionsList symbol, libuv's
   * read calls.
   */
  const INTERNAL =
    /\._(?:handle|connections|server|httpMessage)\b|\.parser\b|http\.server\.connections|\.read(?:Start|Stop)\(/;

  it('the pattern sees each kind of access', () => {
    for (const text of [
      's._handle.fd',
      'server._connections++',
      'socket.parser',
      "'http.server.connections'",
      'h.readStop()',
      'x._httpMessage',
    ]) {
      expect(INTERNAL.test(text), text).toBe(true);
    }
    expect(INTERNAL.test(code(join(SRC, 'app/node-internals.ts')))).toBe(true);
  });

  it('are touched in app/node-internals.ts only', () => {
    const touching = FILES.filter((f) => INTERNAL.test(code(f))).map((f) => relative(SRC, f));
    expect(touching).toEqual(['app/node-internals.ts']);
  });
});

/** Files of src/ (relative) whose code, without comments, matches `re`. */
function filesMatching(re: RegExp, except: readonly string[] = []): string[] {
  return FILES.map((f) => relative(SRC, f)).filter((f) => !except.includes(f) && re.test(code(join(SRC, f))));
}

describe('errors come from one module', () => {
  it('defines no error class but SockactError, in protocol/errors.ts', () => {
    expect(filesMatching(/\bclass\s+\w+\s+extends\s+(\w*Error)\b/)).toEqual(['protocol/errors.ts']);
  });

  it('makes no plain Error: every error is a SockactError (TypeError/RangeError only for a bad argument)', () => {
    expect(filesMatching(/\bnew Error\(/)).toEqual([]);
  });

  it('writes no ERR_* code that SockactErrorCode lacks', () => {
    const union =
      readFileSync(join(SRC, 'protocol/errors.ts'), 'utf8').match(/export type SockactErrorCode =([^;]*);/)?.[1] ?? '';
    const known = new Set([...union.matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1]!));
    expect(known.size).toBeGreaterThan(40);
    const used = FILES.flatMap((f) =>
      [...code(f).matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => `${relative(SRC, f)}: ${m[1]}`),
    );
    expect(used.length).toBeGreaterThan(known.size);
    expect(used.filter((u) => !known.has(u.split(': ')[1]!))).toEqual([]);
  });
});

describe('/proc is read only in sys/', () => {
  it('names no /proc path outside sys/', () => {
    const outside = filesMatching(/['`"]\/proc\//).filter((f) => !f.startsWith('sys/'));
    expect(outside).toEqual([]);
    // The check sees the reads it guards against.
    expect(filesMatching(/['`"]\/proc\//)).toContain('sys/proc.ts');
  });
});

describe('the package entry', () => {
  it('src/index.ts reaches app/, protocol/ and sys/ only, and no package but koffi', () => {
    const reached = new Set<string>();
    const walk = (f: string) => {
      if (reached.has(f)) return;
      reached.add(f);
      for (const t of GRAPH.get(f) ?? []) if (GRAPH.has(t) || !isBuiltin(t)) walk(t);
    };
    walk('index.ts');
    const outside = [...reached].filter(
      (f) => f !== 'index.ts' && !['app', 'protocol', 'sys'].includes(layer(f) ?? '') && f !== 'koffi',
    );
    expect(outside).toEqual([]);
  });

  it('the built bundle and its chunks hold no module of launch/, supervise/ or cli/ and import no yargs', () => {
    const bundle = join(ROOT, 'dist/src/index.bundle.js');
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build`);
    const chunks = ['index.bundle.js', 'index.lazy.js', 'index.shared.js'].map((f) => join(ROOT, 'dist/src', f));
    const text = chunks
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    // esbuild heads each bundled module with a "// dist/src/<path>.js" comment.
    const modules = [...text.matchAll(/^\/\/ (dist\/src\/\S+\.js)$/gm)].map((m) => m[1]!);
    expect(modules).toContain('dist/src/app/listen.js');
    expect(modules.filter((m) => /^dist\/src\/(launch|supervise|cli)\//.test(m))).toEqual([]);
    expect([...text.matchAll(/(?:from|import\(|require\()\s*["'](yargs[^"']*)["']/g)].map((m) => m[1])).toEqual([]);
  });
});

/*
 * Functions fit a screen (STYLE: aim under 60 lines): no function in src/ is over 80 lines, and only a data table
 * (one line per entry, nothing to split but the table itself) is over 60. Measured with the compiler's own parser,
 * from a function's first token (after its doc comment) to its closing brace, for every function declaration,
 * method, accessor, constructor, arrow function and function expression, nested ones included.
 */
const SCREEN = 60;
const MOST = 80;

/** Allowed over SCREEN lines (never over MOST), because they are data tables: "file name" and why. At most two. */
const DATA_TABLES: Record<string, string> = {
  'sys/libc.ts libc': 'the table of the C functions sockact binds through koffi, one declaration a line',
};

type Fn = ts.FunctionLikeDeclaration;

/** A function's name as the lists above spell it: `name`, `Class.method`, or the variable or key it is assigned to. */
function functionName(fn: Fn, sf: ts.SourceFile): string {
  const owner = fn.parent;
  const member = (of: ts.Node, name: string) => (ts.isClassLike(of) ? `${of.name?.text ?? '(class)'}.${name}` : name);
  if (ts.isConstructorDeclaration(fn)) return member(owner, 'constructor');
  if (fn.name) return member(owner, fn.name.getText(sf));
  if (ts.isPropertyDeclaration(owner)) return member(owner.parent, owner.name.getText(sf));
  if (ts.isVariableDeclaration(owner) || ts.isPropertyAssignment(owner)) return owner.name.getText(sf);
  return `(anonymous, line ${sf.getLineAndCharacterOfPosition(fn.getStart(sf)).line + 1})`;
}

/** Every function with a body in `text`, with its length in lines. */
function functionLengths(text: string, file = 'x.ts'): { name: string; lines: number }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const line = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line;
  const found: { name: string; lines: number }[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const fn = node as Fn;
      found.push({ name: functionName(fn, sf), lines: line(fn.end) - line(fn.getStart(sf)) + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** Every function in src/ as "file name" with its length in lines. */
const LENGTHS = new Map<string, number>();
for (const f of FILES) {
  for (const { name, lines } of functionLengths(readFileSync(f, 'utf8'), f)) {
    const key = `${relative(SRC, f)} ${name}`;
    LENGTHS.set(key, Math.max(lines, LENGTHS.get(key) ?? 0));
  }
}

describe('functions fit a screen', () => {
  it('measures every kind of function, from its first token to its closing brace', () => {
    const text = [
      '/** doc */',
      'export function a() {',
      '  return 1;',
      '}',
      'class C {',
      '  constructor() {}',
      '  m() {',
      '  }',
      '  get g() { return 1; }',
      '  #p = () => {',
      '  };',
      '}',
      'const b = (x: number) =>',
      '  x + 1;',
      'const o = { f: function () {',
      '}, k() {} };',
      'declare function d(): void;',
      '[1].map((y) => y);',
    ].join('\n');
    expect(functionLengths(text)).toEqual([
      { name: 'a', lines: 3 },
      { name: 'C.constructor', lines: 1 },
      { name: 'C.m', lines: 2 },
      { name: 'C.g', lines: 1 },
      { name: 'C.#p', lines: 2 },
      { name: 'b', lines: 2 },
      { name: 'f', lines: 2 },
      { name: 'k', lines: 1 },
      { name: '(anonymous, line 18)', lines: 1 },
    ]);
    // And it reads src/: a function split into a class and steps, at its length today.
    expect(LENGTHS.get('launch/accept.ts runAccept')).toBeLessThanOrEqual(SCREEN);
    expect(LENGTHS.get('launch/accept.ts Acceptor.constructor')).toBeGreaterThan(1);
  });

  it(`none is over ${MOST} lines, and only the data tables are over ${SCREEN}`, () => {
    const over = [...LENGTHS].filter(([key, lines]) => lines > MOST || (lines > SCREEN && !(key in DATA_TABLES)));
    expect(over.map(([key, lines]) => `${key}: ${lines} lines`)).toEqual([]);
  });

  it('allows at most two data tables, each a function in src/', () => {
    expect(Object.keys(DATA_TABLES).length).toBeLessThanOrEqual(2);
    expect(Object.keys(DATA_TABLES).filter((key) => !LENGTHS.has(key))).toEqual([]);
  });
});

/*
 * Lines of at most 120 characters (biome's lineWidth) in every code file: the formatter splits code, but not a
 * string, a template literal or a comment, so a long one is split by hand (strings with +, the text unchanged).
 * The one exception is a line that is a lone regular expression literal: it cannot be split without rewriting it
 * as new RegExp() from strings, every backslash doubled.
 */
const LINE_WIDTH = 120;
const CODE_DIRS = ['src', 'test', 'bench', 'scripts', 'examples', 'bin'];
const isCode = (name: string) => /\.(ts|js|mjs|cjs)$/.test(name);
const LONE_REGEX = /^\s*\/(?![/*])(?:\\.|\[(?:\\.|[^\]\\])*\]|[^/\\[])+\/[dgimsuvy]*[,;)]*$/;

/** The code files under `dir`, but for node_modules and bench/results (ignored by git). */
function codeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory())
      return e.name === 'node_modules' || path === join(ROOT, 'bench/results') ? [] : codeFiles(path);
    return isCode(e.name) ? [path] : [];
  });
}

/** The numbers of the lines in `text` over LINE_WIDTH characters, lone regular expression literals aside. */
function longLines(text: string): number[] {
  return text.split('\n').flatMap((line, i) => (line.length > LINE_WIDTH && !LONE_REGEX.test(line) ? [i + 1] : []));
}

describe('lines fit the formatter', () => {
  it('finds a line over the width, and passes over a lone regular expression literal', () => {
    const z = 'z'.repeat(LINE_WIDTH);
    const text = ['x'.repeat(LINE_WIDTH), 'y'.repeat(LINE_WIDTH + 1), `    /^${z}\\/[a-z]$/m,`, `    // /${z}/`];
    expect(longLines(text.join('\n'))).toEqual([2, 4]);
  });

  it(`no line of code is over ${LINE_WIDTH} characters`, () => {
    const files = [
      ...readdirSync(ROOT, { withFileTypes: true })
        .filter((e) => e.isFile() && isCode(e.name))
        .map((e) => join(ROOT, e.name)),
      ...CODE_DIRS.flatMap((d) => codeFiles(join(ROOT, d))),
    ];
    expect(files.length).toBeGreaterThan(200);
    const over = files.flatMap((f) => longLines(readFileSync(f, 'utf8')).map((n) => `${relative(ROOT, f)}:${n}`));
    expect(over).toEqual([]);
  });
});
