/**
 * The OS seam: every libc call sockact makes goes through this folder (koffi, loaded on first
 * use). It knows nothing of LISTEN_*, notify or supervision: only sockets, fds and messages.
 */
export * from './constants.js';
export { describeErrno, errnoName, errorReason, sysError, type SysError } from './errors.js';
export * from './fd.js';
export * from './file.js';
export * from './msg.js';
export * from './poll.js';
export { PollLoop, pollLoop, type Watch } from './loop.js';
export type { SockAddr } from '../protocol/sockaddr.js';
export * from './socket.js';
export * from './proc.js';
