/*
 * V8's compile cache for sockact's own code (Node 22.1+, module.enableCompileCache()): a start
 * then reads the bytecode of the functions an earlier start compiled instead of parsing and
 * compiling them again, 5 to 8 ms of every launch (BENCHMARKS.md, "A plain launch"). npm and
 * tsc do the same in their bins. It is sockact's alone: Node does not pass it on to children
 * (NODE_COMPILE_CACHE stays unset), so a program's own start is never changed by it.
 *
 * The directory is private: a cache is code this process runs, so it lives where only this user
 * can write, never in a shared /tmp (Node's default). /var/cache/sockact for root, else
 * $XDG_CACHE_HOME/sockact or ~/.cache/sockact; $CACHE_DIRECTORY when systemd made one
 * (CacheDirectory=). It is made 0700 and used only when it is a directory of this user's, not a
 * symlink, that nobody else can write. Anything else (a read-only home, ProtectHome=, no home)
 * means no cache, silently: the cache only saves time. NODE_DISABLE_COMPILE_CACHE=1 turns it off,
 * and NODE_COMPILE_CACHE=DIR names another directory (Node's own variables).
 *
 * Node 20 has no such cache. There, runCachedCli() runs the CLI's CommonJS build
 * (dist/src/cli/main.cjs) as a vm.Script with V8's cached data, as v8-compile-cache did before
 * Node had its own: the data is made at the run's end (or after its first second), so it holds
 * every function the run compiled, about 12 ms of a plain launch there (BENCHMARKS.md). It is one
 * file in the same private directory, `cli-<node version>.v8`, whose first line names the build it
 * was made from (its size, mtime and inode): V8 checks cached data against the length of the
 * source only, and a cache of another build of the same length must never run. A cache that does
 * not match, or that V8 rejects (another V8, other flags), is made again.
 *
 * Loaded by bin/sockact.js before the CLI, so it is plain Node with no import of its own: whatever
 * it imports is parsed before the cache can help. Node's modules come from
 * process.getBuiltinModule() when used.
 */

const [MAJOR = 0, MINOR = 0] = process.versions.node.split('.').map(Number);
/** Whether this Node has its own compile cache (module.enableCompileCache(), Node 22.1+). */
export const NODE_HAS_COMPILE_CACHE = MAJOR > 22 || (MAJOR === 22 && MINOR >= 1);

/** Where the cache goes for this user, or undefined when there is no sensible place. */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.()): string | undefined {
  if (env.CACHE_DIRECTORY) return `${env.CACHE_DIRECTORY.split(':')[0]}/compile-cache`;
  if (uid === 0) return '/var/cache/sockact';
  if (env.XDG_CACHE_HOME?.startsWith('/')) return `${env.XDG_CACHE_HOME}/sockact`;
  if (env.HOME?.startsWith('/')) return `${env.HOME}/.cache/sockact`;
  return undefined;
}

/** Whether `dir` is a real directory of this user's that nobody else can write (made 0700 when missing). */
function privateDir(dir: string): boolean {
  const fs = process.getBuiltinModule('node:fs');
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** The private directory for a cache now, or undefined: none sensible, not private, or turned off. */
function usableCacheDir(): string | undefined {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return undefined;
  const dir = compileCacheDir();
  return dir !== undefined && privateDir(dir) ? dir : undefined;
}

/** Turn the compile cache on for this process, where the Node release has one; never throws. */
export function useCompileCache(): void {
  // NODE_COMPILE_CACHE: Node enabled it at start, there. On an older Node node:module is not loaded.
  if (!NODE_HAS_COMPILE_CACHE || process.env.NODE_COMPILE_CACHE) return;
  const dir = usableCacheDir();
  if (dir === undefined) return;
  // The @types/node of Node 20 this builds with does not name it.
  const node = process.getBuiltinModule('node:module') as { enableCompileCache?: (dir: string) => unknown };
  try {
    node.enableCompileCache?.(dir);
  } catch {
    // A release whose cache cannot start here: run without it.
  }
}

/** What the CLI's entry module exports. */
interface Cli {
  main(argv: string[]): Promise<void>;
}

/**
 * The CLI from its CommonJS build `file`, through V8's cached data where a private cache
 * directory can hold it (Node before 22.1). NODE_DISABLE_COMPILE_CACHE=1 runs it without.
 */
export function runCachedCli(file: string): Cli {
  const fs = process.getBuiltinModule('node:fs');
  const vm = process.getBuiltinModule('node:vm');
  const source = fs.readFileSync(file, 'utf8');
  const dir = usableCacheDir();
  const cache = dir === undefined ? undefined : `${dir}/cli-${process.version}.v8`;
  const st = fs.statSync(file);
  const key = Buffer.from(`sockact ${process.arch} ${st.size} ${st.mtimeMs} ${st.ino}\n`);
  let cachedData: Buffer | undefined;
  if (cache !== undefined) {
    try {
      const data = fs.readFileSync(cache);
      if (data.subarray(0, key.length).equals(key)) cachedData = data.subarray(key.length);
    } catch {
      // none yet
    }
  }
  // The wrapper CommonJS puts around a file, so that the build runs as Node would run it.
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new vm.Script(wrapper, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const mod = { exports: {} as Cli };
  const require = process.getBuiltinModule('node:module').createRequire(file);
  script.runInThisContext()(mod.exports, require, mod, file, file.slice(0, file.lastIndexOf('/')));
  if (cache !== undefined && (cachedData === undefined || script.cachedDataRejected)) {
    let made = false;
    const make = () => {
      if (made) return;
      made = true;
      writeCache(cache, Buffer.concat([key, script.createCachedData()]));
    };
    process.once('exit', make);
    // A sockact that runs on, and may end by a signal (no 'exit'): after its first second.
    setTimeout(make, 1000).unref();
  }
  return mod.exports;
}

/** Write `data` to `path` whole or not at all: a new file (never through a link), then rename(2). */
function writeCache(path: string, data: Buffer): void {
  const fs = process.getBuiltinModule('node:fs');
  const tmp = `${path}.${process.pid}`;
  try {
    fs.writeFileSync(tmp, data, { flag: 'wx', mode: 0o600 });
    fs.renameSync(tmp, path);
  } catch {
    // Only time is lost: the next run makes it again.
    fs.rmSync(tmp, { force: true });
  }
}
