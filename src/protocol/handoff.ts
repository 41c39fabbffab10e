/**
 * The hand-off: sockact's answer for programs behind a wrapper (npm start, yarn, a shell script
 * without exec). A wrapper is a process between the launcher and the app, so LISTEN_PID is not
 * the app's pid, and Node wrappers close every inherited fd above 2 at start-up. With --wrapper
 * the launcher also offers the sockets over a private SOCK_SEQPACKET UNIX socket, named in
 * SOCKACT_FDS_SOCKET, to descendants of the program it started (checked with SO_PEERCRED and
 * /proc). sockact's listenFds() asks when LISTEN_PID is not its own.
 *
 * Messages, server to client: a header `SOCKACT_FDS=<n>\nLISTEN_FDNAMES=<a:b:...>` with no fds,
 * then the n fds as SCM_RIGHTS in messages of at most 253 (SCM_MAX_FD) each; or `ERROR=<one line>`.
 */
import { quote, SockactError } from './errors.js';
import { parseNotifyMessage } from './notify.js';

export const HANDOFF_ENV = 'SOCKACT_FDS_SOCKET';
/** The kernel's limit of fds in one SCM_RIGHTS message. */
export const SCM_MAX_FD = 253;

export function formatHandoffHeader(names: readonly string[]): Buffer {
  return Buffer.from(`SOCKACT_FDS=${names.length}\nLISTEN_FDNAMES=${names.join(':')}`);
}

export function formatHandoffError(message: string): Buffer {
  return Buffer.from(`ERROR=${message.replace(/\n/g, ' ')}`);
}

/** Parse the header (KEY=VALUE lines, as a notify message); a refusal from the launcher becomes an error naming the socket. */
export function parseHandoffHeader(data: Buffer, socketPath: string): { count: number; names: string[] } {
  const text = data.toString('utf8');
  const fields = parseNotifyMessage(text);
  const refused = fields.get('ERROR');
  if (refused !== undefined) {
    throw new SockactError('ERR_HANDOFF', `sockact at ${HANDOFF_ENV}=${socketPath} refused: ${refused}`, { variable: HANDOFF_ENV, value: socketPath });
  }
  const countText = fields.get('SOCKACT_FDS');
  const count = countText !== undefined && /^(0|[1-9][0-9]{0,5})$/.test(countText) ? Number(countText) : NaN;
  const namesText = fields.get('LISTEN_FDNAMES');
  const names = namesText === undefined || count === 0 ? [] : namesText.split(':');
  if (Number.isNaN(count) || names.length !== count) {
    throw new SockactError('ERR_HANDOFF', `sockact at ${HANDOFF_ENV}=${socketPath} sent a malformed header: ${quote(text)}`, {
      variable: HANDOFF_ENV,
      value: socketPath,
    });
  }
  return { count, names };
}
