import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ListenSpec } from '../protocol/address.js';
import { errorReason } from '../sys/errors.js';
import { LaunchError } from './errors.js';
import { lookupGroup, lookupUid } from './ids.js';

/** SocketMode= default in systemd.socket (docs/protocol.md 17). */
export const DEFAULT_SOCKET_MODE = 0o666;
/** DirectoryMode= default: parent directories created for a socket path. */
export const DEFAULT_DIRECTORY_MODE = 0o755;

function fail(path: string, reason: string, code: string, cause?: unknown): LaunchError {
  return new LaunchError(code, `can't listen on ${path}: ${reason}`, 1, { address: path, cause });
}

function codeOf(cause: unknown): string {
  return (cause as NodeJS.ErrnoException).code ?? 'ERR_SOCKET_PATH';
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
    // Parents are 0755 whatever the umask (docs/protocol.md 17): a socket given mode 0666 must be reachable.
    const missing: string[] = [];
    for (let d = dir; !existsSync(d) && d !== dirname(d); d = dirname(d)) missing.push(d);
    mkdirSync(dir, { recursive: true, mode: DEFAULT_DIRECTORY_MODE });
    for (const d of missing) chmodSync(d, DEFAULT_DIRECTORY_MODE);
  } catch (cause) {
    // A recursive mkdir says EEXIST (or ENOTDIR) when a file stands where a directory should be.
    const inTheWay = codeOf(cause) === 'EEXIST' || codeOf(cause) === 'ENOTDIR';
    throw fail(path, `can't create the directory ${dir}: ${inTheWay ? 'a file is in the way' : errorReason(cause)}`, codeOf(cause), cause);
  }
  let st;
  try {
    st = lstatSync(path);
  } catch (cause) {
    if (codeOf(cause) === 'ENOENT') return;
    throw fail(path, errorReason(cause), codeOf(cause), cause);
  }
  if (st.isSymbolicLink()) throw fail(path, 'it is a symlink (sockact does not bind or remove through one)', 'ERR_SOCKET_PATH');
  if (!st.isSocket()) {
    const what = st.isFile() ? 'a regular file' : st.isDirectory() ? 'a directory' : 'not a socket';
    throw fail(path, `it exists and is ${what}, not a stale socket: sockact never removes it`, 'ERR_SOCKET_PATH');
  }
  if (!spec.removeStale) {
    throw fail(path, 'a socket file already exists (add ,remove-stale or --remove-stale to replace a stale one)', 'EADDRINUSE');
  }
  unlinkSync(path);
}

/**
 * Run `bind` with the umask set so the socket file is created with no more than `mode`, then
 * chmod it to exactly `mode` (the umask can only take bits away) and chown it. The umask is
 * process-wide, which is why this is synchronous and restored before anything else runs.
 */
export function bindUnixPath(spec: ListenSpec, path: string, bind: () => void): void {
  const mode = spec.mode ?? DEFAULT_SOCKET_MODE;
  const old = process.umask(~mode & 0o777);
  try {
    bind();
  } finally {
    process.umask(old);
  }
  try {
    chmodSync(path, mode);
    if (spec.user !== undefined || spec.group !== undefined) {
      const uid = spec.user !== undefined ? lookupUid(spec.user) : -1;
      const gid = spec.group !== undefined ? lookupGroup(spec.group) : -1;
      chownSync(path, uid, gid);
    }
  } catch (cause) {
    removeSocketFile(path);
    if (cause instanceof LaunchError) throw fail(path, cause.message, cause.code, cause);
    throw fail(path, `can't set its owner or mode: ${errorReason(cause)}`, codeOf(cause), cause);
  }
}

/** Remove a socket file sockact created, if it is still a socket (RemoveOnStop=). Never throws. */
export function removeSocketFile(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Already gone, or the directory went away: nothing left to clean up.
  }
}
