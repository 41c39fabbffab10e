import { closeSync, constants, fstatSync, openSync, type Stats } from 'node:fs';
import { AT_EMPTY_PATH, O_CLOEXEC, O_PATH } from './constants.js';
import { sysError } from './errors.js';
import { lastErrno, libc } from './libc.js';

const ELOOP = 40;

/**
 * Calls on files that never follow a symlink: whoever can write a directory can swap a name in
 * it for a link between two calls, so after creating a name sockact holds the inode by fd
 * (O_PATH | O_NOFOLLOW, open(2)) and checks and changes that inode, never the name again.
 */

/**
 * The inode at `path` itself, as an O_PATH fd, and its fstat. A symlink at `path` is refused
 * (ELOOP), never followed: O_PATH | O_NOFOLLOW opens the link itself (open(2)), which fstat
 * tells. With `directory`, anything but a directory is refused (ENOTDIR). O_NOFOLLOW and
 * O_DIRECTORY differ between x86_64 and arm64: Node's fs.constants has the right ones.
 */
export function openNoFollow(path: string, directory = false): { fd: number; stat: Stats } {
  const flags = O_PATH | O_CLOEXEC | constants.O_NOFOLLOW | (directory ? constants.O_DIRECTORY : 0);
  const fd = openSync(path, flags);
  let stat: Stats;
  try {
    stat = fstatSync(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (stat.isSymbolicLink()) {
    closeSync(fd);
    throw sysError('open', ELOOP, `open ${path}`);
  }
  return { fd, stat };
}

/**
 * fchownat(fd, "", uid, gid, AT_EMPTY_PATH): change the owner of the inode an O_PATH fd holds
 * (fchown(2) refuses O_PATH fds). -1 leaves the uid or gid as it is.
 */
export function chownFd(fd: number, uid: number, gid: number, what = `chown fd ${fd}`): void {
  if (libc().fchownat(fd, '', uid >>> 0, gid >>> 0, AT_EMPTY_PATH) < 0) {
    throw sysError('fchownat', lastErrno(), what, fd);
  }
}

export function closePath(fd: number): void {
  closeSync(fd);
}
