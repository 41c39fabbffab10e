import type { EventEmitter } from 'node:events';
import { quote, SockactError } from '../protocol/errors.js';
import type { ListenFd } from './listen-fds.js';

/**
 * The listen(2) backlog for an adopted listening socket when none is given. Node calls listen(2)
 * again on an adopted fd, with 511 by default, which would shrink the queue systemd (or the
 * launcher) set up. INT_MAX is systemd's own SOMAXCONN_DELUXE: the kernel caps it at
 * net.core.somaxconn, so that sysctl decides, as it does for systemd's listen(). The backlog
 * cannot be read back from a socket, so a smaller Backlog= in the unit is raised too: pass
 * `backlog` to keep it.
 */
export const ADOPTED_BACKLOG = 2 ** 31 - 1;

// fd -> the call that adopted it. One wrapper per fd: a second one would read, accept and
// close behind the first one's back.
const adopted = new Map<number, string>();

export function adoptedBy(fd: number): string | undefined {
  return adopted.get(fd);
}

export function alreadyAdopted(d: ListenFd): SockactError {
  const by = adopted.get(d.fd);
  return new SockactError('ERR_FD_ADOPTED', `fd ${d.fd} (${quote(d.name)}) is already adopted by ${by}`, {
    fd: d.fd,
    fdName: d.name,
    actual: `adopted by ${by}`,
  });
}

/** A server listen() made listen, and the name its socket goes by (LISTEN_FDNAMES). */
export interface Served {
  server: { readonly listening: boolean };
  name: string;
}

// Servers listen() started, inherited or bound: what a self-upgrade passes on and drains.
const served: Served[] = [];

export function recordServed(entry: Served): void {
  served.push(entry);
}

/** The servers listen() started that still listen, in the order they started. */
export function servedServers(): Served[] {
  return served.filter((s) => s.server.listening);
}

/** Mark every fd as adopted by `by`, or none of them: throws when one already is. */
export function claim(fds: readonly ListenFd[], by: string): void {
  for (const d of fds) if (adopted.has(d.fd)) throw alreadyAdopted(d);
  for (const d of fds) adopted.set(d.fd, by);
}

/**
 * Run `start` (server.listen, socket.bind) and resolve on 'listening', or reject with the cause
 * of the first 'error' or of a throw. Subscribes first: dgram emits 'listening' synchronously
 * inside bind({ fd }).
 */
export function untilListening(emitter: Pick<EventEmitter, 'once' | 'off'>, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (cause: unknown) => {
      emitter.off('listening', onListening);
      reject(cause);
    };
    const onListening = () => {
      emitter.off('error', onError);
      resolve();
    };
    emitter.once('error', onError);
    emitter.once('listening', onListening);
    try {
      start();
    } catch (cause) {
      emitter.off('listening', onListening);
      emitter.off('error', onError);
      reject(cause);
    }
  });
}
