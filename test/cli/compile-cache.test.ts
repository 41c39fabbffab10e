// sockact's own compile cache (src/cli/compile-cache.ts): where it goes, that it is private and
// used, and that no program sockact starts ever sees it. The runs use $CACHE_DIRECTORY (as
// systemd's CacheDirectory= sets it) to keep the cache in a test directory.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileCacheDir } from '../../src/cli/compile-cache.js';
import { ROOT, SOCKACT, tempDir } from '../_support/launcher.js';

/** Node 22.1 and later have module.enableCompileCache(); Node 20 has none. */
const HAS_CACHE = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';

/** `sockact -q -l 127.0.0.1:0 -- PROGRAM...` with `env` added; its stdout. */
function launch(env: NodeJS.ProcessEnv, program: string[] = ['/bin/true']): string {
  const r = spawnSync(process.execPath, [SOCKACT, '-q', '-l', '127.0.0.1:0', '--', ...program], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/**
 * The cache files under `dir`: Node's (one subdirectory per Node release and V8 flags) on 22.1 and
 * later, sockact's one `cli-<version>.v8` before.
 */
const entries = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile())
    : [];

describe('compileCacheDir', () => {
  it("is systemd's CacheDirectory= first, then /var/cache/sockact for root, then XDG_CACHE_HOME, then ~/.cache", () => {
    expect(compileCacheDir({ CACHE_DIRECTORY: '/var/cache/app:/var/cache/b', HOME: '/h' }, 0)).toBe(
      '/var/cache/app/compile-cache',
    );
    expect(compileCacheDir({ HOME: '/root' }, 0)).toBe('/var/cache/sockact');
    expect(compileCacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/h' }, 1000)).toBe('/x/cache/sockact');
    expect(compileCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' }, 1000)).toBe('/h/.cache/sockact');
    expect(compileCacheDir({ HOME: '/h' }, 1000)).toBe('/h/.cache/sockact');
    expect(compileCacheDir({}, 1000)).toBeUndefined();
  });
});

describe('the compile cache of sockact itself', () => {
  it('is written to a private directory and read by the next launch', () => {
    const d = tempDir();
    try {
      launch({ CACHE_DIRECTORY: d.dir });
      const dir = join(d.dir, 'compile-cache');
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const first = entries(dir);
      // Node's: the bundle and its shared chunk at least, what every launch runs. sockact's: one file.
      expect(first.length).toBeGreaterThanOrEqual(HAS_CACHE ? 2 : 1);
      launch({ CACHE_DIRECTORY: d.dir });
      expect(entries(dir)).toEqual(first);
    } finally {
      d.cleanup();
    }
  });

  it.runIf(HAS_CACHE)('never reaches the program: no NODE_COMPILE_CACHE in its environment', () => {
    const d = tempDir();
    try {
      const env = launch({ CACHE_DIRECTORY: d.dir }, ['/usr/bin/env']);
      expect(env).toMatch(/^PATH=/m);
      expect(env).not.toMatch(/NODE_COMPILE_CACHE/);
      expect(entries(join(d.dir, 'compile-cache')).length).toBeGreaterThan(0);
    } finally {
      d.cleanup();
    }
  });

  it('is not used in a directory others can write, through a symlink, or with NODE_DISABLE_COMPILE_CACHE=1', () => {
    const d = tempDir();
    try {
      const shared = join(d.dir, 'shared');
      mkdirSync(join(shared, 'compile-cache'), { recursive: true });
      chmodSync(join(shared, 'compile-cache'), 0o777);
      launch({ CACHE_DIRECTORY: shared });
      expect(entries(join(shared, 'compile-cache'))).toEqual([]);

      const linked = join(d.dir, 'linked');
      const target = join(d.dir, 'target');
      mkdirSync(linked);
      mkdirSync(target, { mode: 0o700 });
      symlinkSync(target, join(linked, 'compile-cache'));
      launch({ CACHE_DIRECTORY: linked });
      expect(entries(target)).toEqual([]);

      const off = join(d.dir, 'off');
      launch({ CACHE_DIRECTORY: off, NODE_DISABLE_COMPILE_CACHE: '1' });
      expect(entries(join(off, 'compile-cache'))).toEqual([]);
      // The control: the same directory is used once the variable is gone (on a Node that caches).
      launch({ CACHE_DIRECTORY: off });
      expect(entries(join(off, 'compile-cache')).length).toBeGreaterThan(0);
    } finally {
      d.cleanup();
    }
  });
});

describe("sockact's own cache on a Node without one (main.cjs through vm.Script)", () => {
  const file = join(ROOT, 'dist/src/cli/main.cjs');
  const cacheIn = (dir: string) => join(dir, 'compile-cache', `cli-${process.version}.v8`);

  it.skipIf(HAS_CACHE)('is one file, 0600, made by the first launch and kept by the next (V8 took it)', () => {
    const d = tempDir();
    try {
      launch({ CACHE_DIRECTORY: d.dir });
      const made = statSync(cacheIn(d.dir));
      expect(made.mode & 0o777).toBe(0o600);
      const st = statSync(file);
      expect(readFileSync(cacheIn(d.dir), 'latin1').split('\n')[0]).toBe(
        `sockact ${process.arch} ${st.size} ${st.mtimeMs} ${st.ino}`,
      );
      launch({ CACHE_DIRECTORY: d.dir });
      // Rejected data, or data of another build, is made again: a new file (rename), a new inode.
      expect(statSync(cacheIn(d.dir)).ino).toBe(made.ino);
    } finally {
      d.cleanup();
    }
  });

  it.skipIf(HAS_CACHE)('is made again when it names another build, or when V8 refuses its data', () => {
    const d = tempDir();
    try {
      launch({ CACHE_DIRECTORY: d.dir });
      const path = cacheIn(d.dir);
      const good = readFileSync(path);
      const eol = good.indexOf(10);
      // Valid data under the key of a build one byte longer: must not run, so it is made again.
      const key = good.subarray(0, eol).toString('latin1').split(' ');
      key[2] = String(Number(key[2]) + 1);
      writeFileSync(path, Buffer.concat([Buffer.from(key.join(' '), 'latin1'), good.subarray(eol)]));
      const foreign = statSync(path).ino;
      launch({ CACHE_DIRECTORY: d.dir });
      expect(statSync(path).ino).not.toBe(foreign);
      const keyLine = (b: Buffer) => b.subarray(0, b.indexOf(10)).toString('latin1');
      expect(keyLine(readFileSync(path))).toBe(keyLine(good));
      // The right key with data V8 cannot use.
      writeFileSync(path, Buffer.concat([good.subarray(0, eol + 1), Buffer.from('not V8 data')]));
      const refused = statSync(path).ino;
      launch({ CACHE_DIRECTORY: d.dir });
      expect(statSync(path).ino).not.toBe(refused);
      expect(statSync(path).size).toBeGreaterThan(100_000);
    } finally {
      d.cleanup();
    }
  });
});
