import { SockactError } from '../protocol/errors.js';
import { HANDOFF_ENV, handoffSource, SCM_MAX_FD } from '../protocol/handoff.js';
import { toSockactError } from './boundary.js';
import { closeFd } from '../sys/fd.js';
import { connect, socket } from '../sys/socket.js';
import { receiveFdsSync } from './fd-bundle.js';

/** How long to wait for the launcher's answer; it answers from its event loop at once. */
const ANSWER_MS = 5000;
/** The most sockets taken from the launcher (it offers what -l bound: far fewer). */
const MAX_FDS = 64 * SCM_MAX_FD;

/**
 * Ask the sockact launcher named in SOCKACT_FDS_SOCKET for its sockets: one fd bundle
 * (protocol/fdpass.ts). Synchronous, like the rest of listenFds(): connect, then wait for the
 * bundle. The fds arrive close-on-exec, at whatever numbers are free; on any error none is kept.
 */
export function fetchHandedOff(path: string): { fds: number[]; names: string[] } {
  let sock: number;
  try {
    sock = socket('unix', 'seqpacket');
  } catch (cause) {
    throw toSockactError(cause, `can't get sockets from sockact at ${HANDOFF_ENV}=${path}`, {
      variable: HANDOFF_ENV,
      value: path,
    });
  }
  try {
    try {
      connect(sock, { family: 'unix', path });
    } catch (cause) {
      throw new SockactError(
        'ERR_HANDOFF',
        `can't get sockets from sockact at ${HANDOFF_ENV}=${path}: ${(cause as Error).message}`,
        {
          variable: HANDOFF_ENV,
          value: path,
          cause,
        },
      );
    }
    const { fds, names } = receiveFdsSync(sock, handoffSource(path), MAX_FDS, ANSWER_MS);
    return { fds, names };
  } catch (err) {
    if (err instanceof SockactError && err.code !== 'ERR_HANDOFF') {
      throw new SockactError('ERR_HANDOFF', err.message, { variable: HANDOFF_ENV, value: path, cause: err });
    }
    throw toSockactError(err, `can't get sockets from sockact at ${HANDOFF_ENV}=${path}`, {
      variable: HANDOFF_ENV,
      value: path,
    });
  } finally {
    closeFd(sock);
  }
}
