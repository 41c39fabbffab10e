// A fd's flags as the kernel reports them (/proc/self/fdinfo, proc(5)), read without the seam, so
// a test of what the seam made does not ask the seam.
import { readFileSync } from 'node:fs';

/** FD_CLOEXEC (O_CLOEXEC in fdinfo's octal flags) and O_NONBLOCK of one of this process's fds. */
export function fdFlags(fd: number): { cloexec: boolean; nonblock: boolean } {
  const m = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m) throw new Error(`/proc/self/fdinfo/${fd} has no flags line`);
  const flags = Number.parseInt(m[1]!, 8);
  return { cloexec: (flags & 0o2000000) !== 0, nonblock: (flags & 0o4000) !== 0 };
}
