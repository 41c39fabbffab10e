import { type ErrorCode, SockactError } from '../protocol/errors.js';
import { FdBundleReader, type FdBundleContent } from '../protocol/fdpass.js';
import { AF_UNIX, SO_DOMAIN, SO_TYPE, SOCK_SEQPACKET, SOCK_STREAM, SOL_SOCKET } from '../sys/constants.js';
import { errorReason } from '../sys/errors.js';
import { closeFd } from '../sys/fd.js';
import { recvmsg } from '../sys/msg.js';
import { pollSync } from '../sys/poll.js';
import { getsockoptInt } from '../sys/socket.js';

/*
 * What both ways of receiving an fd bundle (protocol/fdpass.ts) share: the check of the socket,
 * the cleanup on error, and the synchronous receive that listenFds() needs for the --wrapper
 * hand-off (app/handoff.ts). The asynchronous API, sendFds() and receiveFds(), is app/fdpass.ts,
 * loaded only when an app calls it.
 */

/** A one-line error of fd passing, naming `value`. */
export function fdPassError(code: ErrorCode, message: string, value: unknown, cause?: unknown): SockactError {
  return new SockactError(code, message, cause === undefined ? { value } : { value, cause });
}

/** A connected UNIX stream or seqpacket socket, or a one-line error naming what it is instead. */
export function checkSocket(fd: number, source: string): { stream: boolean } {
  let type: number;
  let domain: number;
  try {
    type = getsockoptInt(fd, SOL_SOCKET, SO_TYPE);
    domain = getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
  } catch (cause) {
    throw fdPassError('ERR_FDS_SOCKET', `${source} is not a socket: ${errorReason(cause)}`, source, cause);
  }
  if (domain !== AF_UNIX || (type !== SOCK_STREAM && type !== SOCK_SEQPACKET)) {
    throw fdPassError(
      'ERR_FDS_SOCKET',
      `${source} is not a UNIX stream or seqpacket socket: fds pass only over one (unix(7))`,
      source,
    );
  }
  return { stream: type === SOCK_STREAM };
}

/**
 * Receive one bundle on a connected socket synchronously, for listenFds() (the --wrapper
 * hand-off): waited for with a blocking poll() of at most `timeoutMs`. On any error every fd
 * that did arrive is closed before the error is thrown.
 */
export function receiveFdsSync(fd: number, source: string, limit: number, timeoutMs: number): FdBundleContent {
  const reader = new FdBundleReader(source, limit, checkSocket(fd, source).stream);
  const deadline = Date.now() + timeoutMs;
  try {
    while (!reader.done) {
      if (pollSync([fd], Math.max(0, deadline - Date.now())).length === 0) {
        throw fdPassError('ETIMEDOUT', `${source} did not answer within ${timeoutMs} ms`, source);
      }
      const part = recvmsg(fd, reader.need(), reader.maxFds(), false);
      if (part) reader.push(part);
    }
    return reader.result();
  } catch (err) {
    closeAll(reader.fds);
    throw err;
  }
}

/** Close each of `fds`, ignoring any already closed. */
export function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeFd(fd);
    } catch {
      // Already closed: nothing left to leak.
    }
  }
}
