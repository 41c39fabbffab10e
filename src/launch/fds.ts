import { setCloexec } from '../sys/fd.js';
import { ownFds } from '../sys/proc.js';

let done = false;

/**
 * Mark every fd >= 3 of this process close-on-exec, once. Whatever the launcher inherited without
 * FD_CLOEXEC (a shell's or a CI runner's stray pipe) would otherwise reach every child next to its
 * sockets; systemd-socket-activate closes them all for the same reason. The sockets still reach
 * the child: libuv places each at 3.. and clears the flag on that copy only. Linux's /proc/self/fd
 * lists the fds; where it is missing nothing is changed.
 */
export function cloexecInheritedFds(): void {
  if (done) return;
  done = true;
  for (const fd of ownFds() ?? []) {
    if (fd < 3) continue;
    try {
      setCloexec(fd);
    } catch {
      // The listing's own directory fd, closed by now.
    }
  }
}
