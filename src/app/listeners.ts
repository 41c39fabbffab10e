import type dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { quote, SockactError } from '../protocol/errors.js';
import { ADOPTED_BACKLOG, claim, untilListening } from './adopt.js';
import { describeFd, isStreamListener, listenFds, type ListenFd } from './listen-fds.js';
import { migrating } from './migration.js';

interface Base {
  readonly fd: number;
  readonly name: string;
  readonly descriptor: ListenFd;
}

/** One inherited fd turned into a ready Node object (or the reason it could not be). */
export type Listener =
  /** A listening TCP or UNIX stream socket, adopted by a listening net.Server. */
  | (Base & { type: 'server'; server: net.Server })
  /** A UDP socket, adopted by a bound dgram.Socket of its real family (udp4 or udp6). */
  | (Base & { type: 'dgram'; socket: dgram.Socket })
  /** An accepted connection (Accept=yes, name "connection"). */
  | (Base & { type: 'connection'; socket: net.Socket })
  /**
   * A FIFO: a net.Socket, readable and/or writable as it was opened. A regular file or char
   * device: an fs.WriteStream when opened write-only, else an fs.ReadStream (files from offset 0).
   */
  | (Base & { type: 'stream'; stream: net.Socket | fs.ReadStream | fs.WriteStream })
  /** A fd Node cannot serve (UNIX datagram, seqpacket, netlink, directory...): never dropped silently. */
  | (Base & { type: 'unsupported'; reason: string });

export interface GetListenersOptions {
  /**
   * Make the server for a listening stream socket; default net.createServer(). Pass e.g.
   * `() => http.createServer(handler)` to get HTTP servers.
   */
  createServer?: (descriptor: ListenFd) => net.Server;
  /**
   * listen(2) backlog for adopted listeners. Node calls listen(2) again on the fd; the default is
   * as large as net.core.somaxconn allows (ADOPTED_BACKLOG), so adopting never shrinks the queue.
   */
  backlog?: number;
}

/**
 * Build ready Node objects from every inherited fd, in fd order (docs/protocol.md 4, 8; section 4).
 * Resolves once every server is listening and every datagram socket bound. [] when not
 * activated. Each fd is adopted at most once per process: calling this again, or after listen()
 * took one of the fds, is an error (ERR_FD_ADOPTED), never a second wrapper around the same fd.
 */
export async function getListeners(options: GetListenersOptions = {}): Promise<Listener[]> {
  const fds = listenFds();
  claim(fds, 'getListeners()');
  const made: Listener[] = [];
  // node:dgram only when there is a UDP socket: every module an app imports costs start-up.
  const udp = fds.some((d) => d.type === 'dgram') ? (await import('node:dgram')).default : undefined;
  // Loaded before anything listens: once a server serves, this resolves without another I/O turn.
  const migrate = migrating() ? await import('./migrate.js') : undefined;
  try {
    for (const d of fds) made.push(adopt(d, options, udp));
    await Promise.all(made.map((l) => ready(l, options.backlog ?? ADOPTED_BACKLOG)));
    for (const l of made) if (l.type === 'server') migrate?.offerMigration(l.server);
  } catch (err) {
    for (const l of made) closeQuietly(l);
    throw err;
  }
  return made;
}

function adopt(d: ListenFd, options: GetListenersOptions, udp: typeof dgram | undefined): Listener {
  const base = { fd: d.fd, name: d.name, descriptor: d };
  const what = describeFd(d);
  try {
    if (d.kind === 'socket') {
      if (isStreamListener(d)) {
        const server = options.createServer ? options.createServer(d) : net.createServer();
        return { ...base, type: 'server', server };
      }
      // A stream socket with no peer cannot be read or accepted on: go-systemd returns nil for it.
      if (d.type === 'stream' && d.family !== undefined && d.connected !== false) {
        return { ...base, type: 'connection', socket: new net.Socket({ fd: d.fd, readable: true, writable: true }) };
      }
      if (d.type === 'dgram' && (d.family === 'inet' || d.family === 'inet6') && d.protocol === 17) {
        const socket = udp!.createSocket(d.family === 'inet6' ? 'udp6' : 'udp4');
        return { ...base, type: 'dgram', socket };
      }
      return {
        ...base,
        type: 'unsupported',
        reason: `fd ${d.fd} is ${what}, which Node cannot serve; use listenFds() and the fd directly`,
      };
    }
    if (d.kind === 'fifo') {
      const stream = new net.Socket({ fd: d.fd, readable: d.access !== 'write', writable: d.access !== 'read' });
      return { ...base, type: 'stream', stream };
    }
    if (d.kind === 'file' || d.kind === 'char-device') {
      // Regular files are read from offset 0 with pread, whatever the shared offset says.
      const start = d.kind === 'file' ? 0 : undefined;
      const stream =
        d.access === 'write' ? fs.createWriteStream('', { fd: d.fd }) : fs.createReadStream('', { fd: d.fd, start });
      return { ...base, type: 'stream', stream };
    }
    return {
      ...base,
      type: 'unsupported',
      reason: `fd ${d.fd} is ${what}; there is no Node stream for it, use listenFds() and the fd directly`,
    };
  } catch (cause) {
    throw adoptError(d, cause);
  }
}

function adoptError(d: ListenFd, cause: unknown): SockactError {
  const reason = (cause as Error)?.message ?? String(cause);
  return new SockactError('ERR_ADOPT', `can't adopt fd ${d.fd} (${quote(d.name)}), ${describeFd(d)}: ${reason}`, {
    fd: d.fd,
    fdName: d.name,
    cause,
  });
}

/** Start a server listening / a datagram socket bound on its fd; rejects with the 'error' it gets. */
async function ready(l: Listener, backlog: number): Promise<void> {
  try {
    // The backlog must be an argument: listen({ fd, backlog }) ignores the option and uses 511.
    if (l.type === 'server') await untilListening(l.server, () => l.server.listen({ fd: l.fd }, backlog));
    else if (l.type === 'dgram') await untilListening(l.socket, () => l.socket.bind({ fd: l.fd }));
  } catch (cause) {
    throw adoptError(l.descriptor, cause);
  }
}

function closeQuietly(l: Listener): void {
  try {
    if (l.type === 'server') l.server.close();
    else if (l.type === 'dgram') l.socket.close();
    else if (l.type === 'connection') l.socket.destroy();
    else if (l.type === 'stream') l.stream.destroy();
  } catch {
    // Already closed or never opened: nothing left to release.
  }
}
