import { existsSync, readFileSync } from 'node:fs';
import { SockactError } from '../protocol/errors.js';

/**
 * The libc functions the seam binds through koffi. koffi is loaded on first use only, so a
 * program that never makes one of these calls (an app that was not socket-activated) never
 * loads it, and a platform koffi or this seam does not support fails at the call, not at import.
 */
export interface Libc {
  koffi: KoffiLike;
  socket(domain: number, type: number, protocol: number): number;
  socketpair(domain: number, type: number, protocol: number, sv: Int32Array): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer | Int32Array, len: number): number;
  getsockopt(fd: number, level: number, name: number, val: Buffer | Int32Array, len: Uint32Array): number;
  bind(fd: number, addr: Buffer, len: number): number;
  listen(fd: number, backlog: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  accept4(fd: number, addr: Buffer | null, len: Uint32Array | null, flags: number): number;
  getsockname(fd: number, addr: Buffer, len: Uint32Array): number;
  getpeername(fd: number, addr: Buffer, len: Uint32Array): number;
  fcntl: VariadicFn;
  close(fd: number): number;
  shutdown(fd: number, how: number): number;
  poll: AsyncCapable<(fds: Buffer, nfds: number, timeout: number) => number>;
  pipe2(fds: Int32Array, flags: number): number;
  sendmsg(fd: number, msg: Buffer, flags: number): number;
  recvmsg: AsyncCapable<(fd: number, msg: Buffer, flags: number) => number>;
  if_nametoindex(name: string): number;
  getpgrp(): number;
  tcgetpgrp(fd: number): number;
  write(fd: number, buf: Buffer, len: number): number;
  read(fd: number, buf: Buffer, len: number): number;
  getuid(): number;
  getgid(): number;
  waitpid(pid: number, status: Int32Array | null, options: number): number;
  fchownat(dirfd: number, path: string, uid: number, gid: number, flags: number): number;
}

type VariadicFn = (...args: unknown[]) => number;
type AsyncCapable<F extends (...args: never[]) => number> = F & {
  async(...args: [...Parameters<F>, (err: unknown, res: number) => void]): void;
};

interface KoffiLike {
  errno(): number;
  address(value: unknown): bigint;
  load(name: string): { func(decl: string): never };
}

let cached: Libc | undefined;

function candidates(): string[] {
  const arch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
  // glibc first; musl (Alpine) has no libc.so.6, its libc is the dynamic loader itself.
  return ['libc.so.6', `libc.musl-${arch}.so.1`, `/lib/ld-musl-${arch}.so.1`];
}

/**
 * koffi's own loader spends ~8 ms (package exports resolution, two ELF reads of the node binary
 * to tell glibc from musl) before a 1 ms dlopen of its native module; an activated app pays it
 * at start-up. Open the native module of koffi's platform package directly instead: the glibc
 * build first (on musl it fails to load, cleanly), then the musl build. Anything unexpected
 * (another layout, another version) returns undefined and koffi's own loader runs.
 */
function loadKoffiNative(): KoffiLike | undefined {
  // Walk up from here to each node_modules, as require() would, without its exports resolution.
  const platformPkg = `@koromix/koffi-${process.platform}-${process.arch}`;
  // Plain string work on import.meta.url (Linux only, see libc()): node:path and node:url would
  // add two module loads to every activated app's start-up.
  const dirname = (p: string) => p.slice(0, Math.max(p.lastIndexOf('/'), 1));
  for (let dir = dirname(decodeURIComponent(new URL(import.meta.url).pathname)); ; dir = dirname(dir)) {
    const modules = `${dir}/node_modules`;
    if (existsSync(`${modules}/koffi/package.json`)) {
      try {
        const { version } = JSON.parse(readFileSync(`${modules}/koffi/package.json`, 'utf8')) as { version: string };
        for (const base of [`${modules}/koffi/node_modules/${platformPkg}`, `${modules}/${platformPkg}`]) {
          for (const triplet of [`${process.platform}_${process.arch}`, `musl_${process.arch}`]) {
            const mod = { exports: {} as KoffiLike & { version?: string } };
            try {
              process.dlopen(mod, `${base}/${triplet}/koffi.node`);
            } catch {
              continue;
            }
            if (mod.exports.version === version) return mod.exports;
          }
        }
      } catch {
        // fall through to koffi's own loader
      }
      return undefined;
    }
    if (dir === dirname(dir)) return undefined;
  }
}

/** Load libc through koffi (once). Throws a one-line error on an unsupported platform. */
export function libc(): Libc {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    throw new SockactError(
      'ERR_NATIVE',
      `socket activation needs Linux; this is ${process.platform} ` +
        `(not activated apps still work: listen() binds its fallback)`,
    );
  }
  const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);
  let koffi: KoffiLike;
  try {
    koffi = loadKoffiNative() ?? (require('koffi') as KoffiLike);
  } catch (cause) {
    throw new SockactError(
      'ERR_NATIVE',
      `can't load koffi for ${process.platform}-${process.arch}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  let lib: ReturnType<KoffiLike['load']> | undefined;
  const errors: string[] = [];
  for (const name of candidates()) {
    try {
      lib = koffi.load(name);
      break;
    } catch (err) {
      errors.push(`${name}: ${(err as Error).message}`);
    }
  }
  if (!lib) throw new SockactError('ERR_NATIVE', `can't load the C library (${errors.join('; ')})`);
  const f = (decl: string) => lib!.func(decl);
  cached = {
    koffi,
    socket: f('int socket(int domain, int type, int protocol)'),
    socketpair: f('int socketpair(int domain, int type, int protocol, _Out_ int *sv)'),
    setsockopt: f('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)'),
    getsockopt: f('int getsockopt(int fd, int level, int name, void *val, uint32_t *len)'),
    bind: f('int bind(int fd, const void *addr, uint32_t len)'),
    listen: f('int listen(int fd, int backlog)'),
    connect: f('int connect(int fd, const void *addr, uint32_t len)'),
    accept4: f('int accept4(int fd, void *addr, uint32_t *len, int flags)'),
    getsockname: f('int getsockname(int fd, void *addr, uint32_t *len)'),
    getpeername: f('int getpeername(int fd, void *addr, uint32_t *len)'),
    fcntl: f('int fcntl(int fd, int cmd, ...)'),
    close: f('int close(int fd)'),
    shutdown: f('int shutdown(int fd, int how)'),
    poll: f('int poll(void *fds, unsigned long nfds, int timeout)'),
    pipe2: f('int pipe2(_Out_ int *fds, int flags)'),
    sendmsg: f('long sendmsg(int fd, const void *msg, int flags)'),
    recvmsg: f('long recvmsg(int fd, void *msg, int flags)'),
    if_nametoindex: f('unsigned int if_nametoindex(const char *name)'),
    getpgrp: f('int getpgrp()'),
    tcgetpgrp: f('int tcgetpgrp(int fd)'),
    write: f('long write(int fd, const void *buf, unsigned long len)'),
    read: f('long read(int fd, void *buf, unsigned long len)'),
    getuid: f('uint32_t getuid()'),
    getgid: f('uint32_t getgid()'),
    waitpid: f('int waitpid(int pid, _Out_ int *status, int options)'),
    fchownat: f('int fchownat(int dirfd, const char *path, uint32_t uid, uint32_t gid, int flags)'),
  };
  return cached;
}

/** errno of the last failed call on this thread. */
export function lastErrno(): number {
  return libc().koffi.errno();
}
