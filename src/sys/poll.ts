import { POLLIN } from './constants.js';
import { sysError } from './errors.js';
import { lastErrno, libc } from './libc.js';

export interface PollResult {
  fd: number;
  revents: number;
}

/** What to wait for: one mask for every fd, or one mask per fd (in the order of `fds`). */
export type PollEvents = number | readonly number[];

function pollfds(fds: readonly number[], events: PollEvents): Buffer {
  // struct pollfd { int fd; short events; short revents; } = 8 bytes.
  const buf = Buffer.alloc(8 * fds.length);
  fds.forEach((fd, i) => {
    buf.writeInt32LE(fd, i * 8);
    buf.writeInt16LE(typeof events === 'number' ? events : events[i]!, i * 8 + 4);
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
export function pollSync(fds: readonly number[], timeoutMs: number, events: PollEvents = POLLIN): PollResult[] {
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
export function pollAsync(
  fds: readonly number[],
  timeoutMs: number,
  events: PollEvents = POLLIN,
): Promise<PollResult[]> {
  const buf = pollfds(fds, events);
  return new Promise((resolve, reject) => {
    libc().poll.async(buf, fds.length, timeoutMs, (err, r) => {
      if (err) return reject(err);
      if (r >= 0) return resolve(ready(buf, fds));
      // errno is the pool thread's, out of reach here. Ask again without waiting, on this thread:
      // EINTR (a signal reached the pool thread) passes, and a lasting failure (EINVAL when there
      // are more fds than RLIMIT_NOFILE, ENOMEM) throws with its own errno, never passed off as
      // EINTR and retried forever.
      try {
        resolve(pollSync(fds, 0, events));
      } catch (e) {
        reject(e);
      }
    });
  });
}
