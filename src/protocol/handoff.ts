/**
 * The hand-off: sockact's answer for programs behind a wrapper (npm start, yarn, a shell script
 * without exec). A wrapper is a process between the launcher and the app, so LISTEN_PID is not
 * the app's pid, and Node wrappers close every inherited fd above 2 at start-up. With --wrapper
 * the launcher also offers the sockets over a private SOCK_SEQPACKET UNIX socket, named in
 * SOCKACT_FDS_SOCKET, to descendants of the program it started (checked with SO_PEERCRED and
 * /proc). sockact's listenFds() asks when LISTEN_PID is not its own.
 *
 * The answer is one fd bundle (protocol/fdpass.ts): the sockets with their LISTEN_FDNAMES names,
 * or a refusal naming the reason.
 */
export { SCM_MAX_FD } from './fdpass.js';

export const HANDOFF_ENV = 'SOCKACT_FDS_SOCKET';

/** How a hand-off socket is named in messages: "sockact at SOCKACT_FDS_SOCKET=/run/.../fds.sock". */
export function handoffSource(path: string): string {
  return `sockact at ${HANDOFF_ENV}=${path}`;
}
