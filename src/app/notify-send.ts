import { quote, SockactError } from '../protocol/errors.js';
import { SCM_MAX_FD } from '../protocol/handoff.js';
import { formatNotify, parseNotifySocket, type NotifyFields } from '../protocol/notify.js';
import { sendmsg } from '../sys/msg.js';
import { socket } from '../sys/socket.js';
import { toSockactError } from './boundary.js';

// The sender alone, apart from notify.ts's helpers: watchdog.ts pings through it, and notify.ts's
// ready() starts the watchdog, so neither of those two imports the other.
//
// One unbound datagram socket for the whole process, made on first send (never at import: an
// app that was not activated must not load koffi). Each send names the address (sendmsg `to`).
// It is blocking, as libsystemd's is: a full receive queue delays the send instead of losing it.
let sock: number | undefined;

export interface NotifyOptions {
  /** fds to pass with the message as SCM_RIGHTS (the fd store). */
  fds?: readonly (number | { fd: number })[];
}

/**
 * Send one sd_notify datagram to NOTIFY_SOCKET (docs/protocol.md 19-21): a raw string of KEY=VALUE
 * lines, or fields. Three outcomes, as go-systemd's SdNotify: false when NOTIFY_SOCKET is unset
 * (not supported; koffi is not even loaded), true when sent, and a thrown SockactError when it
 * failed (malformed NOTIFY_SOCKET, missing socket, path too long, and - checked first, even when
 * unset - a message of more than 4096 bytes, a NUL byte, a multi-line value).
 */
export function sendNotify(state: string | NotifyFields, options: NotifyOptions = {}): boolean {
  const data = formatNotify(state);
  const fds = (options.fds ?? []).map((f) => (typeof f === 'number' ? f : f.fd));
  if (fds.length > SCM_MAX_FD) {
    throw new SockactError(
      'ERR_NOTIFY_MESSAGE',
      `can't pass ${fds.length} fds in one notify message (at most ${SCM_MAX_FD})`,
      {
        actual: `${fds.length} fds`,
      },
    );
  }
  for (const fd of fds) {
    if (!Number.isInteger(fd) || fd < 0)
      throw new SockactError('ERR_NOTIFY_MESSAGE', `not a fd: ${quote(fd)}`, { value: fd });
  }
  const value = process.env.NOTIFY_SOCKET;
  if (value === undefined) return false;
  const { path } = parseNotifySocket(value);
  try {
    sock ??= socket('unix', 'dgram');
    sendmsg(sock, data, { to: { family: 'unix', path }, fds });
  } catch (cause) {
    throw toSockactError(cause, `can't notify NOTIFY_SOCKET ${quote(value)}`, { variable: 'NOTIFY_SOCKET', value });
  }
  return true;
}
