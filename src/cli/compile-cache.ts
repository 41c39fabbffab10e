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
 * Loaded by bin/sockact.js before the CLI bundle, so it is plain Node with no import of its own:
 * whatever it imports is parsed before the cache can help. node:module and node:fs come from
 * process.getBuiltinModule() when used, so a Node without the cache loads neither.
 */

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

/** Turn the compile cache on for this process, where the Node release has one; never throws. */
export function useCompileCache(): void {
  // Node 22.1+. On an older Node, node:module is not even loaded: it is work for nothing there.
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 1) || process.env.NODE_DISABLE_COMPILE_CACHE) return;
  if (process.env.NODE_COMPILE_CACHE) return; // Node enabled it at start, there
  // The @types/node of Node 20 this builds with does not name it.
  const { enableCompileCache } = process.getBuiltinModule('node:module') as {
    enableCompileCache?: (dir?: string) => unknown;
  };
  if (enableCompileCache === undefined) return;
  const dir = compileCacheDir();
  if (dir === undefined || !privateDir(dir)) return;
  try {
    enableCompileCache(dir);
  } catch {
    // A release whose cache cannot start here: run without it.
  }
}
