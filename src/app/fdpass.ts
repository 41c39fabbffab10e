import type net from 'node:net';
import { rmSync } from 'node:fs';
import { codeOf, quote, type SockactError } from '../protocol/errors.js';
import {
  FdBundleReader,
  formatFdBundle,
  SCM_MAX_FD,
  type FdBundleContent,
  type FdPassMessage,
} from '../protocol/fdpass.js';
import { POLLIN, POLLOUT, SOCK_NONBLOCK } from '../sys/constants.js';
import { errorReason } from '../sys/errors.js';
import { closeFd, isCloexec } from '../sys/fd.js';
import { pollLoop } from '../sys/loop.js';
import { recvmsg, sendmsg, type Credentials } from '../sys/msg.js';
import { accept, bind, connect, listenSocket, peerCredentials, socket } from '../sys/socket.js';
import { checkSocket, closeAll, fdPassError } from './fd-bundle.js';
import { fdOf, isReading, stopReading } from './node-internals.js';

/** A received bundle: fds (close-on-exec, now this process's), one name each, the message, and who sent them. */
export interface FdBundle {
  fds: number[];
  names: string[];
  message: Buffer;
  /** SO_PEERCRED of the connection: the sender's pid, uid and gid as the kernel saw them at connect(). */
  peer: Credentials;
}

/**
 * Where to send to or receive from: a UNIX socket path ('@name' abstract), a connected socket's
 * fd, or a net.Socket.
 */
export type FdPassEndpoint = string | number | net.Socket;

export interface SendFdsOptions {
  /** One name per fd (printable ASCII, no ':', as LISTEN_FDNAMES); "unknown" for every fd by default. */
  names?: readonly string[];
  /** A small message sent with the fds (at most 64 KiB). */
  message?: string | Buffer;
  /** Milliseconds to wait for a full peer (default 10000; Infinity: no limit). */
  timeout?: number;
}

export interface ReceiveFdsOptions {
  /** The most fds accepted (default 253); a sender that sends more gets nothing, and nothing leaks here. */
  maxFds?: number;
  /** Milliseconds to wait for a sender and its bundle (default 10000; Infinity: no limit). */
  timeout?: number;
  /** With a path: the socket type to listen with (default 'seqpacket'; sendFds() reaches either). */
  type?: 'seqpacket' | 'stream';
}

const DEFAULT_TIMEOUT = 10_000;

/** The peer gone while sending: EPIPE / ECONNRESET become one line naming the peer. */
function sendError(cause: unknown, source: string): SockactError {
  const code = codeOf(cause, 'ERR_FDS_SEND');
  if (code === 'EPIPE' || code === 'ECONNRESET')
    return fdPassError('ERR_FDS_PEER_GONE', `${source} closed the connection before taking the fds`, source, cause);
  return fdPassError(code, `can't send fds to ${source}: ${errorReason(cause)}`, source, cause);
}

/** Wait until `fd` has `events` on the process's one poll loop, or reject at `deadline`. */
function waitFd(fd: number, events: number, deadline: number, timedOut: () => SockactError): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const watch = pollLoop().watch(
      fd,
      () => {
        clearTimeout(timer);
        watch.close();
        resolve();
      },
      events,
    );
    if (Number.isFinite(deadline)) {
      timer = setTimeout(
        () => {
          watch.close();
          reject(timedOut());
        },
        Math.max(0, deadline - Date.now()),
      );
    }
  });
}

function deadlineOf(timeout: number | undefined): number {
  const t = timeout ?? DEFAULT_TIMEOUT;
  if (!(t > 0))
    throw fdPassError('ERR_FDS_OPTIONS', `timeout must be a positive number of milliseconds: ${quote(t)}`, t);
  return Date.now() + t;
}

/**
 * The fd of a net.Socket (a UNIX socket Node connected or adopted). To receive, Node must not
 * read from it: reading drops fds.
 */
function netSocketFd(s: net.Socket, forReceive: boolean): number {
  const fd = fdOf(s);
  const none = 'the net.Socket has no fd (not connected yet, or destroyed)';
  if (fd === undefined) throw fdPassError('ERR_FDS_SOCKET', none, undefined);
  if (forReceive) {
    if (s.bytesRead > 0) {
      throw fdPassError(
        'ERR_FDS_SOCKET',
        `the net.Socket on fd ${fd} has already read ${s.bytesRead} bytes, ` +
          `and fds that came with them are lost: receive before anything reads from it`,
        fd,
      );
    }
    // libuv reads with read(2), which discards SCM_RIGHTS: stop it; the event loop cannot read in between.
    if (isReading(s)) stopReading(s);
  } else if (s.writableLength > 0) {
    throw fdPassError(
      'ERR_FDS_SOCKET',
      `the net.Socket on fd ${fd} has ${s.writableLength} bytes queued by Node: the fds would overtake them`,
      fd,
    );
  }
  return fd;
}

/** Send the messages of one bundle on a connected socket, waiting (POLLOUT) while it is full. */
async function sendMessages(
  fd: number,
  messages: readonly FdPassMessage[],
  source: string,
  deadline: number,
): Promise<void> {
  for (const m of messages) {
    for (;;) {
      try {
        sendmsg(fd, m.data, { fds: m.fds });
        break;
      } catch (cause) {
        if ((cause as { code?: string }).code !== 'EAGAIN') throw sendError(cause, source);
      }
      await waitFd(fd, POLLOUT, deadline, () =>
        fdPassError('ETIMEDOUT', `${source} did not take the fds in time`, source),
      );
    }
  }
}

/**
 * Receive one bundle on a connected socket. Every fd arrives close-on-exec (MSG_CMSG_CLOEXEC);
 * on any error every fd that did arrive is closed before the error is thrown.
 */
async function receiveOn(fd: number, source: string, limit: number, deadline: number): Promise<FdBundleContent> {
  const reader = new FdBundleReader(source, limit, checkSocket(fd, source).stream);
  try {
    while (!reader.done) {
      await waitFd(fd, POLLIN, deadline, () =>
        fdPassError('ETIMEDOUT', `${source} sent no complete fd bundle in time`, source),
      );
      let part;
      try {
        part = recvmsg(fd, reader.need(), reader.maxFds(), false);
      } catch (cause) {
        if ((cause as { code?: string }).code === 'ECONNRESET') part = { data: Buffer.alloc(0), fds: [] };
        else
          throw fdPassError(
            codeOf(cause, 'ERR_FDS_RECEIVE'),
            `can't receive fds from ${source}: ${errorReason(cause)}`,
            source,
            cause,
          );
      }
      if (part) reader.push(part);
    }
    return reader.result();
  } catch (err) {
    closeAll(reader.fds);
    throw err;
  }
}

function fdsOf(list: readonly (number | { fd: number })[]): number[] {
  const fds = list.map((f) => (typeof f === 'number' ? f : f.fd));
  for (const fd of fds) {
    if (!Number.isInteger(fd) || fd < 0) throw fdPassError('ERR_FDS_OPTIONS', `not a fd: ${quote(fd)}`, fd);
    try {
      isCloexec(fd);
    } catch (cause) {
      throw fdPassError('EBADF', `can't send fd ${fd}: it is not open`, fd, cause);
    }
  }
  return fds;
}

function unixAddress(path: string) {
  return { family: 'unix' as const, path };
}

/**
 * Connect to the UNIX socket at `path`: seqpacket first (message boundaries), then stream when
 * the listener is a stream socket (connect(2) says EPROTOTYPE). Non-blocking, so a full backlog
 * is an error (EAGAIN), never a stalled event loop.
 */
function connectTo(path: string): number {
  let last: unknown;
  for (const type of ['seqpacket', 'stream'] as const) {
    const fd = socket('unix', type, SOCK_NONBLOCK);
    try {
      connect(fd, unixAddress(path));
      return fd;
    } catch (cause) {
      closeFd(fd);
      last = cause;
      if ((cause as { code?: string }).code !== 'EPROTOTYPE') break;
    }
  }
  throw fdPassError(codeOf(last, 'ERR_FDS_SEND'), `can't send fds to ${path}: ${errorReason(last)}`, path, last);
}

/**
 * Send `fds` with their names and a small message to another process (SCM_RIGHTS, unix(7)) as
 * one bundle (protocol/fdpass.ts). `to` is a UNIX socket path (or '@abstract'): connect, send,
 * close; or a connected UNIX stream/seqpacket socket, as a fd or a net.Socket, which stays open.
 * More than 253 fds (SCM_MAX_FD) are split over several messages, never refused. The fds stay
 * open here: the receiver gets its own copies. Resolves once the kernel has queued everything.
 */
export async function sendFds(
  to: FdPassEndpoint,
  fds: readonly (number | { fd: number })[],
  options: SendFdsOptions = {},
): Promise<void> {
  const deadline = deadlineOf(options.timeout);
  const list = fdsOf(fds);
  const message =
    typeof options.message === 'string' ? Buffer.from(options.message) : (options.message ?? Buffer.alloc(0));
  const messages = formatFdBundle(list, options.names, message);
  if (typeof to === 'string') {
    const fd = connectTo(to);
    try {
      await sendMessages(fd, messages, to, deadline);
    } finally {
      closeFd(fd);
    }
    return;
  }
  const fd = typeof to === 'number' ? to : netSocketFd(to, false);
  const source = `fd ${fd}`;
  checkSocket(fd, source);
  await sendMessages(fd, messages, source, deadline);
}

/**
 * Receive one bundle sent by sendFds() (or any peer speaking protocol/fdpass.ts). `from` is a
 * connected UNIX stream/seqpacket socket (a fd or a net.Socket Node has not read from yet), or a
 * path: then a socket is bound there (0666 minus umask), the first connection is taken, and the
 * socket file is removed again. Every fd arrives close-on-exec (MSG_CMSG_CLOEXEC) and is the
 * caller's to close. Errors are one line (SockactError): more fds than `maxFds`, control data
 * truncated (MSG_CTRUNC), the peer gone, a malformed bundle, a timeout; whatever fds did arrive
 * are closed first, so nothing leaks.
 */
export async function receiveFds(from: FdPassEndpoint, options: ReceiveFdsOptions = {}): Promise<FdBundle> {
  const deadline = deadlineOf(options.timeout);
  const limit = options.maxFds ?? SCM_MAX_FD;
  if (!Number.isSafeInteger(limit) || limit < 0)
    throw fdPassError('ERR_FDS_OPTIONS', `maxFds must be a non-negative integer: ${quote(limit)}`, limit);
  if (typeof from !== 'string') {
    const fd = typeof from === 'number' ? from : netSocketFd(from, true);
    const source = `fd ${fd}`;
    checkSocket(fd, source);
    return { ...(await receiveOn(fd, source, limit, deadline)), peer: peerCredentials(fd) };
  }
  const listener = socket('unix', options.type ?? 'seqpacket', SOCK_NONBLOCK);
  let bound = false;
  try {
    try {
      bind(listener, unixAddress(from));
      bound = true;
      listenSocket(listener, 16);
    } catch (cause) {
      throw fdPassError(
        codeOf(cause, 'ERR_FDS_RECEIVE'),
        `can't receive fds on ${from}: ${errorReason(cause)}`,
        from,
        cause,
      );
    }
    await waitFd(listener, POLLIN, deadline, () =>
      fdPassError('ETIMEDOUT', `nobody sent fds to ${from} in time`, from),
    );
    const conn = accept(listener, SOCK_NONBLOCK).fd;
    try {
      const peer = peerCredentials(conn);
      return { ...(await receiveOn(conn, `the sender (pid ${peer.pid}) on ${from}`, limit, deadline)), peer };
    } finally {
      closeFd(conn);
    }
  } finally {
    closeFd(listener);
    if (bound && !from.startsWith('@')) rmSync(from, { force: true });
  }
}
