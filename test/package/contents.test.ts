// The tarball ships what its entry points reach and nothing else: starting at package.json's
// exports, main, types and bin, and following relative imports (static, dynamic, re-exports),
// every shipped .js and .d.ts is reached, and every file reached is shipped. A new import that
// package.json's "files" does not cover fails here, as does a file "files" keeps after nothing
// imports it any more. Each export is then imported from the unpacked tarball.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../_support/launcher.js';
import { type Packed, packOnce, unpackInto } from '../_support/pack.js';

let packed: Packed;
let pkg = '';
let manifest: {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
};

beforeAll(() => {
  packed = packOnce();
  const d = tempDir();
  afterAll(d.cleanup);
  pkg = unpackInto(packed.tarball, d.dir);
  manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
});

// `from './x.js'`, `import('./x.js')`, `import './x.js'`: a relative specifier after any of them.
const RELATIVE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;

/** The package files reached from `entries` (package-relative), each import mapped by `file`. */
function reached(entries: string[], file: (specifier: string) => string): string[] {
  const seen = new Set<string>();
  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    const abs = join(pkg, path);
    if (!existsSync(abs)) return; // reached but not shipped: the comparison below names it
    for (const m of readFileSync(abs, 'utf8').matchAll(RELATIVE)) {
      visit(relative(pkg, resolve(dirname(abs), file(m[2]!))));
    }
  };
  for (const e of entries) visit(e.replace(/^\.\//, ''));
  return [...seen].sort();
}

describe('npm pack: what the entry points reach', () => {
  it('every shipped .js is reached from exports, main or bin, and every .js reached is shipped', () => {
    const exportsJs = Object.values(manifest.exports).map((e) => (typeof e === 'string' ? e : e.default));
    const entries = [...exportsJs.filter((e) => e.endsWith('.js')), manifest.main, ...Object.values(manifest.bin)];
    const reach = reached(entries, (s) => s);
    // examples/ ships as documentation the README links to, not as code the package loads.
    expect(packed.files.filter((f) => f.endsWith('.js') && !f.startsWith('examples/'))).toEqual(reach);
  });

  it('every shipped .d.ts is reached from the exports types, and every .d.ts reached is shipped', () => {
    const exportsTypes = Object.values(manifest.exports).flatMap((e) => (typeof e === 'string' ? [] : [e.types]));
    const reach = reached([...exportsTypes, manifest.types], (s) => s.replace(/\.js$/, '.d.ts'));
    expect(packed.files.filter((f) => f.endsWith('.d.ts'))).toEqual(reach);
  });

  it('each export imports from the unpacked tarball', () => {
    const names = Object.keys(manifest.exports).filter((k) => k !== './package.json');
    expect(names.sort()).toEqual(['.', './launch', './protocol']);
    const line = (n: string) => `console.log('${n}', Object.keys(await import('sockact${n.slice(1)}')).length);`;
    const script = names.map(line).join('\n');
    const cwd = dirname(dirname(pkg)); // the consumer's directory, where node_modules/sockact is
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8' });
    for (const n of names) expect(out).toMatch(new RegExp(`^${n.replace('.', '\\.')} [1-9]\\d*$`, 'm'));
  });
});
