import { fstatSync, statSync } from 'node:fs';
import { F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETPIPE_SZ, FD_CLOEXEC } from './constants.js';
import { sysError } from './errors.js';
import { lastErrno, libc } from './libc.js';

/** What fstat() says a fd is: the S_IFMT classes systemd can pass, plus 'other' for the rest. */
export type FileKind = 'socket' | 'fifo' | 'file' | 'char-device' | 'block-device' | 'directory' | 'symlink' | 'other';

/**
 * fstat the fd (Node's fs.fstatSync: no struct layout to get wrong per architecture).
 * Throws EBADF, with the fd named, when it is not open.
 */
export function fileKind(fd: number): FileKind {
  let st;
  try {
    st = fstatSync(fd);
  } catch (cause) {
    const e = cause as NodeJS.ErrnoException;
    const err = sysError('fstat', -(e.errno ?? -9), `fd ${fd} is not open`, fd);
    err.cause = cause;
    throw err;
  }
  if (st.isSocket()) return 'socket';
  if (st.isFIFO()) return 'fifo';
  if (st.isFile()) return 'file';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  // Anonymous inodes (epoll, eventfd, signalfd, pidfd...) have no S_IFMT type bits.
  return 'other';
}

function fcntl(fd: number, cmd: number, arg: number, what: string): number {
  const r = libc().fcntl(fd, cmd, 'int', arg);
  if (r < 0) throw sysError('fcntl', lastErrno(), what, fd);
  return r;
}

/** Set or clear FD_CLOEXEC. */
export function setCloexec(fd: number, on = true): void {
  const flags = fcntl(fd, F_GETFD, 0, `fcntl(${fd}, F_GETFD)`);
  const next = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  if (next !== flags) fcntl(fd, F_SETFD, next, `fcntl(${fd}, F_SETFD)`);
}

export function isCloexec(fd: number): boolean {
  return (fcntl(fd, F_GETFD, 0, `fcntl(${fd}, F_GETFD)`) & FD_CLOEXEC) !== 0;
}

/** How a fd was opened (O_ACCMODE of its open file description). */
export type AccessMode = 'read' | 'write' | 'read-write';

const O_ACCMODE = 3;

/** fcntl(F_GETFL) & O_ACCMODE: whether a FIFO or file passed to us may be read, written or both. */
export function accessMode(fd: number): AccessMode {
  const mode = fcntl(fd, F_GETFL, 0, `fcntl(${fd}, F_GETFL)`) & O_ACCMODE;
  return mode === 0 ? 'read' : mode === 1 ? 'write' : 'read-write';
}

/** A close-on-exec copy of `fd` at 3 or above (fcntl F_DUPFD_CLOEXEC). */
export function dupFd(fd: number): number {
  return fcntl(fd, F_DUPFD_CLOEXEC, 3, `dup fd ${fd}`);
}

export function closeFd(fd: number): void {
  if (libc().close(fd) < 0) throw sysError('close', lastErrno(), `close fd ${fd}`, fd);
}

/** pipe2(O_CLOEXEC [| O_NONBLOCK]): [readEnd, writeEnd]. */
export function pipe(flags: number): [number, number] {
  const fds = new Int32Array(2);
  if (libc().pipe2(fds, flags) < 0) throw sysError('pipe2', lastErrno());
  return [fds[0]!, fds[1]!];
}

/**
 * Ask for a pipe of `bytes` capacity (fcntl(2) F_SETPIPE_SZ; the kernel rounds up to a power of
 * two of pages). Best effort: beyond /proc/sys/fs/pipe-max-size an unprivileged process gets
 * EPERM, and the pipe keeps its size. Returns the capacity it has.
 */
export function growPipe(fd: number, bytes: number): number | undefined {
  const r = libc().fcntl(fd, F_SETPIPE_SZ, 'int', bytes);
  return r < 0 ? undefined : r;
}

/**
 * Whether `fd` is the null device (a character device with /dev/null's device number, wherever
 * it was opened from): what is written to it is gone, so nothing needs to read it first.
 */
export function isNullDevice(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    if (!st.isCharacterDevice()) return false;
    const nul = statSync('/dev/null');
    return nul.isCharacterDevice() && st.rdev === nul.rdev;
  } catch {
    return false;
  }
}

/** The process group of the terminal on `fd`, or -1 when fd is not a terminal. */
export function terminalForegroundGroup(fd = 0): number {
  return libc().tcgetpgrp(fd);
}

export function processGroup(): number {
  return libc().getpgrp();
}

export function writeFd(fd: number, data: Buffer): number {
  const r = libc().write(fd, data, data.length);
  if (r < 0) throw sysError('write', lastErrno(), `write fd ${fd}`, fd);
  return r;
}

export function readFd(fd: number, buf: Buffer): number {
  const r = libc().read(fd, buf, buf.length);
  if (r < 0) throw sysError('read', lastErrno(), `read fd ${fd}`, fd);
  return r;
}
