import { POLLIN } from '../sys/constants.js';
import { pollAsync } from '../sys/poll.js';

/**
 * Wait until one of `fds` has a connection or a datagram waiting, without accepting or reading it:
 * the child started afterwards takes it from the socket (systemd-socket-activate without --now,
 * systemd's socket units). One poll() on libuv's threadpool covers every fd, so the event loop
 * keeps handling signals meanwhile. Resolves with the fds that are ready.
 */
export async function waitForActivity(fds: readonly number[]): Promise<number[]> {
  for (;;) {
    let ready;
    try {
      ready = await pollAsync(fds, -1, POLLIN);
    } catch (err) {
      // A signal handled on the pool thread interrupts poll(); nothing happened to the sockets.
      if ((err as { code?: string }).code === 'EINTR') continue;
      throw err;
    }
    if (ready.length) return ready.map((r) => r.fd);
  }
}
