import { SockactError } from '../protocol/errors.js';
import { toSockactError } from './boundary.js';
import { HANDOFF_ENV, parseHandoffHeader, SCM_MAX_FD } from '../protocol/handoff.js';
import { closeFd } from '../sys/fd.js';
import { recvmsg } from '../sys/msg.js';
import { pollSync } from '../sys/poll.js';
import { connect, socket } from '../sys/socket.js';

/** How long to wait for the launcher's answer; it answers from its event loop at once. */
const ANSWER_MS = 5000;

/**
 * Ask the sockact launcher named in SOCKACT_FDS_SOCKET for its sockets (see protocol/handoff.ts).
 * Synchronous, like the rest of listenFds(): connect, then wait for the header and the fds. The
 * fds arrive close-on-exec, at whatever numbers are free.
 */
export function fetchHandedOff(path: string): { fds: number[]; names: string[] } {
  let sock: number;
  try {
    sock = socket('unix', 'seqpacket');
  } catch (cause) {
    throw toSockactError(cause, `can't get sockets from sockact at ${HANDOFF_ENV}=${path}`, { variable: HANDOFF_ENV, value: path });
  }
  const got: number[] = [];
  try {
    try {
      connect(sock, { family: 'unix', path });
    } catch (cause) {
      throw new SockactError('ERR_HANDOFF', `can't get sockets from sockact at ${HANDOFF_ENV}=${path}: ${(cause as Error).message}`, {
        variable: HANDOFF_ENV,
        value: path,
        cause,
      });
    }
    const next = () => {
      if (pollSync([sock], ANSWER_MS).length === 0) {
        throw new SockactError('ERR_HANDOFF', `sockact at ${HANDOFF_ENV}=${path} did not answer within ${ANSWER_MS} ms`, {
          variable: HANDOFF_ENV,
          value: path,
        });
      }
      const m = recvmsg(sock, 4096, SCM_MAX_FD);
      if (!m || (m.data.length === 0 && m.fds.length === 0)) {
        throw new SockactError('ERR_HANDOFF', `sockact at ${HANDOFF_ENV}=${path} closed the connection early`, { variable: HANDOFF_ENV, value: path });
      }
      return m;
    };
    const header = next();
    got.push(...header.fds);
    const { count, names } = parseHandoffHeader(header.data, path);
    while (got.length < count) got.push(...next().fds);
    if (got.length !== count) {
      throw new SockactError('ERR_HANDOFF', `sockact at ${HANDOFF_ENV}=${path} sent ${got.length} fds, announced ${count}`, {
        variable: HANDOFF_ENV,
        value: path,
      });
    }
    return { fds: got, names };
  } catch (err) {
    for (const fd of got) closeFd(fd);
    throw toSockactError(err, `can't get sockets from sockact at ${HANDOFF_ENV}=${path}`, { variable: HANDOFF_ENV, value: path });
  } finally {
    closeFd(sock);
  }
}
