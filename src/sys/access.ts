import { F_GETFL } from './constants.js';
import { sysError } from './errors.js';
import { lastErrno, libc } from './libc.js';

/** How a fd was opened (O_ACCMODE of its open file description). */
export type AccessMode = 'read' | 'write' | 'read-write';

const O_ACCMODE = 3;

/** fcntl(F_GETFL) & O_ACCMODE: whether a FIFO or file passed to us may be read, written or both. */
export function accessMode(fd: number): AccessMode {
  const r = libc().fcntl(fd, F_GETFL, 'int', 0);
  if (r < 0) throw sysError('fcntl', lastErrno(), `fcntl(${fd}, F_GETFL)`, fd);
  const mode = r & O_ACCMODE;
  return mode === 0 ? 'read' : mode === 1 ? 'write' : 'read-write';
}
