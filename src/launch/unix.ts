import { lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ListenSpec } from '../protocol/address.js';
import { codeOf, type ErrorCode, SockactError } from '../protocol/errors.js';
import { errorReason } from '../sys/errors.js';
import { chownFd, closePath, openNoFollow } from '../sys/file.js';
import { lookupGroup, lookupUid } from './ids.js';

/** SocketMode= default in systemd.socket (docs/protocol.md 17). */
export const DEFAULT_SOCKET_MODE = 0o666;
/** DirectoryMode= default: parent directories created for a socket path. */
export const DEFAULT_DIRECTORY_MODE = 0o755;

function fail(path: string, reason: string, code: ErrorCode, cause?: unknown): SockactError {
  return new SockactError(code, `can't listen on ${path}: ${reason}`, { address: path, cause });
}

function pathCode(cause: unknown): ErrorCode {
  return codeOf(cause, 'ERR_SOCKET_PATH');
}

/**
 * Run `fn` with the process umask set to `mask`. The umask is process-wide, which is why this is
 * synchronous and restored before anything else runs.
 */
function withUmask<T>(mask: number, fn: () => T): T {
  const old = process.umask(mask);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}

/**
 * Create the missing parents of a socket path, each with mkdir(2) under umask 0 so it is born
 * 0755 (docs/protocol.md 17) whatever sockact's umask: nothing is chmod'ed by name afterwards, so a
 * directory swapped for a symlink in between changes nothing but where the socket goes. Each
 * directory made is then checked through an O_NOFOLLOW fd: still a directory, ours, 0755.
 * Existing directories are left alone, as systemd's mkdir_parents() does.
 */
function makeParents(path: string): void {
  const missing: string[] = [];
  for (let d = dirname(path); d !== dirname(d); d = dirname(d)) {
    let st;
    try {
      // An existing parent may be a symlink to a directory (/var/run): it is only looked through.
      st = statSync(d);
    } catch (cause) {
      if (pathCode(cause) !== 'ENOENT') throw cause;
      missing.unshift(d);
      continue;
    }
    if (!st.isDirectory()) throw new SockactError('ENOTDIR', `${d} is not a directory`);
    break;
  }
  for (const d of missing) {
    try {
      withUmask(0, () => mkdirSync(d, DEFAULT_DIRECTORY_MODE));
    } catch (cause) {
      if (pathCode(cause) === 'EEXIST') continue; // made by someone else meanwhile: not ours to check
      throw cause;
    }
    const { fd, stat } = openNoFollow(d, true);
    closePath(fd);
    if (stat.uid !== process.geteuid!() || (stat.mode & 0o7777) !== DEFAULT_DIRECTORY_MODE) {
      throw new SockactError('ERR_SOCKET_PATH', `${d} was replaced while sockact created it`);
    }
  }
}

/**
 * Make a UNIX socket path bindable: create the parent directories, and with `remove-stale` remove
 * what is there, but only when lstat says it is a socket. A regular file, a directory or a symlink
 * (even one pointing at a socket) is never removed: a typo in -l must not delete someone's data,
 * and following a link would let whoever owns it choose what sockact deletes.
 */
export function prepareUnixPath(spec: ListenSpec, path: string): void {
  const dir = dirname(path);
  try {
    makeParents(path);
  } catch (cause) {
    // mkdir says EEXIST (or ENOTDIR) when a file stands where a directory should be; O_NOFOLLOW says ELOOP.
    const code = pathCode(cause);
    const reason =
      code === 'ENOTDIR' ? 'a file is in the way' : code === 'ELOOP' ? 'a symlink is in the way' : errorReason(cause);
    throw fail(path, `can't create the directory ${dir}: ${reason}`, code, cause);
  }
  let st;
  try {
    st = lstatSync(path);
  } catch (cause) {
    if (pathCode(cause) === 'ENOENT') return;
    throw fail(path, errorReason(cause), pathCode(cause), cause);
  }
  if (st.isSymbolicLink())
    throw fail(path, 'it is a symlink (sockact does not bind or remove through one)', 'ERR_SOCKET_PATH');
  if (!st.isSocket()) {
    const what = st.isFile() ? 'a regular file' : st.isDirectory() ? 'a directory' : 'not a socket';
    throw fail(path, `it exists and is ${what}, not a stale socket: sockact never removes it`, 'ERR_SOCKET_PATH');
  }
  if (!spec.removeStale) {
    throw fail(
      path,
      'a socket file already exists (add ,remove-stale or --remove-stale to replace a stale one)',
      'EADDRINUSE',
    );
  }
  unlinkSync(path);
}

/**
 * Run `bind` with the umask set to ~mode, as systemd's socket_address_listen() does: the kernel
 * creates the socket file 0777 & ~umask, so exactly `mode`, and no chmod(2) by name follows (it
 * would follow a symlink swapped in after bind). With user= or group=, the file is then opened
 * O_PATH | O_NOFOLLOW, checked to be the socket just made (a socket, ours, one link: not a link
 * or a hard link planted in its place) and chowned through that fd (fchownat AT_EMPTY_PATH).
 */
export function bindUnixPath(spec: ListenSpec, path: string, bind: () => void): void {
  const mode = spec.mode ?? DEFAULT_SOCKET_MODE;
  withUmask(~mode & 0o777, bind);
  if (spec.user === undefined && spec.group === undefined) return;
  let fd = -1;
  try {
    const uid = spec.user !== undefined ? lookupUid(spec.user) : -1;
    const gid = spec.group !== undefined ? lookupGroup(spec.group) : -1;
    const opened = openNoFollow(path);
    fd = opened.fd;
    const st = opened.stat;
    if (!st.isSocket() || st.uid !== process.geteuid!() || st.nlink !== 1) {
      throw new SockactError('ERR_SOCKET_PATH', 'the socket file was replaced after bind');
    }
    chownFd(fd, uid, gid);
  } catch (cause) {
    removeSocketFile(path);
    // An unknown user= or group= is its own message; OS errors and a swapped file are about the owner.
    if (cause instanceof SockactError && (cause.code === 'ERR_USER' || cause.code === 'ERR_GROUP')) {
      throw fail(path, cause.message, cause.code, cause);
    }
    const reason =
      pathCode(cause) === 'ELOOP' ? 'the socket file was replaced by a symlink after bind' : errorReason(cause);
    throw fail(path, `can't set its owner: ${reason}`, pathCode(cause), cause);
  } finally {
    if (fd >= 0) closePath(fd);
  }
}

/** Remove a socket file sockact created, if it is still a socket (RemoveOnStop=). Never throws. */
export function removeSocketFile(path: string): void {
  try {
    // unlink(2) never follows a symlink: at worst a link swapped in after lstat is removed.
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Already gone, or the directory went away: nothing left to clean up.
  }
}
