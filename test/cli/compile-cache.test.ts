// sockact's own compile cache (src/cli/compile-cache.ts): where it goes, that it is private and
// used, and that no program sockact starts ever sees it. The runs use $CACHE_DIRECTORY (as
// systemd's CacheDirectory= sets it) to keep the cache in a test directory.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileCacheDir } from '../../src/cli/compile-cache.js';
import { SOCKACT, tempDir } from '../_support/launcher.js';

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

/** The cache files Node wrote under `dir` (one subdirectory per Node release and V8 flags). */
const entries = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.includes('/')) : [];

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
  it.runIf(HAS_CACHE)('is written to a private directory and read by the next launch', () => {
    const d = tempDir();
    try {
      launch({ CACHE_DIRECTORY: d.dir });
      const dir = join(d.dir, 'compile-cache');
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const first = entries(dir);
      // The bundle and its shared chunk at least: what every launch runs.
      expect(first.length).toBeGreaterThanOrEqual(2);
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
      expect(entries(join(off, 'compile-cache')).length > 0).toBe(HAS_CACHE);
    } finally {
      d.cleanup();
    }
  });
});
