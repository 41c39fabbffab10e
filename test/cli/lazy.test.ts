// A plain launch reads only the code it runs: the CLI bundle and the chunk it shares with the
// lazy one (scripts/build.js), after bin/sockact.js's small compile-cache module. What only some
// options and subcommands use is in dist/src/cli/main.lazy.js, read on first use. Checked by the
// files Node loads (a module hook logs each one) and by what each built file holds (esbuild
// heads every module with its path).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, SOCKACT } from '../_support/launcher.js';

const HOOK = join(ROOT, 'test/_support/log-loads.mjs');
/**
 * Node 22.1 and later run the ES module bundles (with Node's compile cache); an older Node runs
 * the CommonJS build through the cache of src/cli/compile-cache.ts, a file read, not a module
 * loaded: the chunks below are what the first kind loads.
 */
const ESM_CLI = 'enableCompileCache' in module;
const CLI = join(ROOT, 'dist/src/cli');

/** The dist/ files a run of `sockact args` loads, by name, and its exit status. */
function loads(args: string[]): { files: string[]; status: number | null } {
  const r = spawnSync(process.execPath, ['--import', HOOK, SOCKACT, ...args], { encoding: 'utf8', timeout: 20_000 });
  const files = [...r.stderr.matchAll(/^loaded file:\/\/(\S+)$/gm)]
    .map((m) => m[1]!)
    .filter((f) => f.startsWith(CLI))
    .map((f) => f.slice(CLI.length + 1));
  return { files, status: r.status };
}

/** The modules a built file holds. */
function modulesOf(file: string): string[] {
  const text = readFileSync(join(CLI, file), 'utf8');
  return [...text.matchAll(/^\/\/ dist\/src\/(\S+)\.js$/gm)].map((m) => m[1]!);
}

describe('the CLI loads what it uses', () => {
  it.skipIf(ESM_CLI)('on a Node without a compile cache no ES bundle is loaded: main.cjs runs instead', () => {
    const r = loads(['-q', '-l', '127.0.0.1:0', '--', '/bin/true']);
    expect(r.status).toBe(0);
    expect(r.files).toEqual(['compile-cache.js']);
  });

  it.runIf(ESM_CLI)('a plain launch loads the bundle and the shared chunk, not the lazy one', () => {
    const r = loads(['-q', '-l', '127.0.0.1:0', '--', '/bin/true']);
    expect(r.status).toBe(0);
    expect(r.files).toEqual(['compile-cache.js', 'main.bundle.js', 'main.shared.js']);
  });

  it.runIf(ESM_CLI)('so does a supervisor with restarts, workers and --prefix', () => {
    const args = [
      '-q',
      '--restart',
      'on-failure',
      '--workers',
      '2',
      '--prefix',
      '-l',
      '127.0.0.1:0',
      '--',
      '/bin/true',
    ];
    const r = loads(args);
    expect(r.status).toBe(0);
    expect(r.files).toEqual(['compile-cache.js', 'main.bundle.js', 'main.shared.js']);
  });

  it.runIf(ESM_CLI)(
    '--version, `unit`, --takeover and --fd-store load the lazy chunk (the check above can fail)',
    () => {
      expect(loads(['--version']).files).toContain('main.lazy.js');
      expect(loads(['unit', '--help']).files).toContain('main.lazy.js');
      for (const option of [['--takeover', '--control', join(ROOT, 'nobody-here.sock')], ['--fd-store']]) {
        const r = loads([...option, '-q', '-l', '127.0.0.1:0', '--', '/bin/true']);
        expect(r.status).toBe(0);
        expect(r.files).toEqual(['compile-cache.js', 'main.bundle.js', 'main.shared.js', 'main.lazy.js']);
      }
    },
  );

  it('the features some runs use are in the lazy chunk only', () => {
    const lazy = modulesOf('main.lazy.js');
    const rare = ['launch/accept', 'launch/handoff', 'launch/fdstore', 'supervise/takeover', 'cli/unit', 'cli/daemon'];
    for (const m of rare) expect(lazy).toContain(m);
    const loaded = [...modulesOf('main.bundle.js'), ...modulesOf('main.shared.js')];
    expect(loaded).toContain('supervise/supervisor');
    expect(loaded.filter((m) => rare.includes(m))).toEqual([]);
  });
});
