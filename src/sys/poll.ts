import { POLLIN } from './constants.js';
import { sysError } from './errors.js';
import { lastErrno, libc } from './libc.js';

export interface PollResult {
  fd: number;
  revents: number;
}

function pollfds(fds: readonly number[], events: number): Buffer {
  // struct pollfd { int fd; short events; short revents; } = 8 bytes.
  const buf = Buffer.alloc(8 * fds.length);
  fds.forEach((fd, i) => {
    buf.writeInt32LE(fd, i * 8);
    buf.writeInt16LE(events, i * 8 + 4);
  });
  return buf;
}

function ready(buf: Buffer, fds: readonly number[]): PollResult[] {
  const out: PollResult[] = [];
  fds.forEach((fd, i) => {
    const revents = buf.readInt16LE(i * 8 + 6);
    if (revents) out.push({ fd, revents });
  });
  return out;
}

const EINTR = 4;

/** poll(2) without blocking the caller's thread beyond `timeoutMs` (-1 = forever). */
export function pollSync(fds: readonly number[], timeoutMs: number, events = POLLIN): PollResult[] {
  const buf = pollfds(fds, events);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = timeoutMs < 0 ? -1 : Math.max(0, deadline - Date.now());
    if (libc().poll(buf, fds.length, left) >= 0) return ready(buf, fds);
    const errno = lastErrno();
    // poll() is never restarted: any signal Node has a listener for (SIGWINCH on a terminal,
    // SIGTERM in an app that handles it) ends it early. Wait out the rest of the timeout.
    if (errno !== EINTR) throw sysError('poll', errno, `poll on fds ${fds.join(',')}`);
  }
}

/**
 * poll(2) on libuv's threadpool, so the event loop keeps running. One call waits on every fd at
 * once: a parked call per fd would exhaust the 4-thread pool. To change the set, write to a
 * wake-up pipe that is part of it.
 */
export function pollAsync(fds: readonly number[], timeoutMs: number, events = POLLIN): Promise<PollResult[]> {
  const buf = pollfds(fds, events);
  return new Promise((resolve, reject) => {
    libc().poll.async(buf, fds.length, timeoutMs, (err, r) => {
      if (err) reject(err);
      else if (r < 0) reject(sysError('poll', EINTR /* the only error a valid set gives */, `poll on fds ${fds.join(',')}`));
      else resolve(ready(buf, fds));
    });
  });
}
