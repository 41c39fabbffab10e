import { quote, SockactError } from '../protocol/errors.js';
import {
  BARRIER,
  checkFdName,
  FDSTOREREMOVE,
  READY,
  RELOADING,
  STOPPING,
  WATCHDOG,
  WATCHDOG_TRIGGER,
} from '../protocol/notify.js';
import { UPGRADE_ENV } from '../protocol/upgrade.js';
import { O_CLOEXEC, POLLHUP } from '../sys/constants.js';
import { closeFd, pipe } from '../sys/fd.js';
import { errorReason } from '../sys/errors.js';
import { sendmsg } from '../sys/msg.js';
import { pollAsync } from '../sys/poll.js';
import { parentPidNow } from '../sys/proc.js';
import { socket } from '../sys/socket.js';
import { toSockactError } from './boundary.js';
import { sendNotify as send, type NotifyOptions } from './notify-send.js';
import { startWatchdog } from './watchdog.js';

export type { NotifyOptions };

/** CLOCK_MONOTONIC in microseconds: libuv's hrtime reads CLOCK_MONOTONIC on Linux. */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

export interface ReadyOptions {
  /** STATUS= sent in the same datagram. */
  status?: string;
  /** Start the watchdog keep-alive if WATCHDOG_USEC asks for one (default true). */
  watchdog?: boolean;
}

/**
 * READY=1 (Type=notify: the unit becomes active; after reloading(): the reload is done), also to
 * the old process when this one was started by upgrader() (SOCKACT_UPGRADE_SOCKET). Also
 * starts the watchdog keep-alive (startWatchdog) when WATCHDOG_USEC is set, unless
 * `watchdog: false`: the keep-alive is never started at import. Once READY=1 is sent, ready()
 * returns true: a malformed WATCHDOG_USEC or WATCHDOG_PID is then a process warning naming the
 * variable and the value (code SOCKACT_WATCHDOG), not an error thrown after the fact.
 */
function ready(options: ReadyOptions = {}): boolean {
  upgradeState.ready = true;
  tellUpgrader();
  const sent = send(options.status === undefined ? READY : { READY: 1, STATUS: options.status });
  if (options.watchdog !== false) {
    try {
      startWatchdog();
    } catch (err) {
      process.emitWarning(`watchdog not started: ${(err as Error).message}`, { code: 'SOCKACT_WATCHDOG' });
    }
  }
  return sent;
}

/**
 * What upgrader() asks before it starts a copy (tableflip refuses an upgrade before Ready() and
 * while the parent has not exited): whether this process has called ready(), and, for a copy
 * that upgrader() started, the pid of the old process, its parent until it exits.
 */
export const upgradeState: { ready: boolean; startedBy: number | undefined } = { ready: false, startedBy: undefined };

/**
 * A copy started by upgrader() (app/upgrade.ts) tells the old process it is ready: READY=1 to
 * SOCKACT_UPGRADE_SOCKET, once; the variable is removed so this process's own children never see
 * it. Only then does the old one stop accepting. An old process that is gone already has nobody
 * to tell: a warning, never an error for the app.
 */
function tellUpgrader(): void {
  const path = process.env[UPGRADE_ENV];
  if (path === undefined) return;
  delete process.env[UPGRADE_ENV];
  upgradeState.startedBy = parentPidNow();
  try {
    const sock = socket('unix', 'dgram');
    try {
      sendmsg(sock, Buffer.from(READY), { to: { family: 'unix', path } });
    } finally {
      closeFd(sock);
    }
  } catch (cause) {
    process.emitWarning(
      `READY=1 not sent to the process that started this upgrade (${UPGRADE_ENV}=${path}): ${errorReason(cause)}`,
      {
        code: 'SOCKACT_UPGRADE',
      },
    );
  }
}

/**
 * RELOADING=1 with MONOTONIC_USEC in the same datagram: for Type=notify-reload, systemctl
 * reload waits forever without the timestamp (docs/protocol.md 21, 23). Send ready() when done.
 */
function reloading(): boolean {
  return send(`${RELOADING}\nMONOTONIC_USEC=${monotonicUsec()}`);
}

function nonNegativeInt(what: string, n: number | bigint): void {
  if (typeof n === 'bigint' ? n < 0n : !Number.isSafeInteger(n) || n < 0) {
    throw new SockactError('ERR_NOTIFY_MESSAGE', `${what} must be a non-negative integer: ${quote(n)}`, { value: n });
  }
}

export interface FdStoreOptions {
  /** FDNAME= (printable ASCII, no ':', at most 255 characters); systemd uses "stored" without it. */
  name?: string;
  /** false sends FDPOLL=0: systemd does not drop the fd when it sees POLLHUP/POLLERR on it. */
  poll?: boolean;
}

/**
 * BARRIER=1 (docs/protocol.md 21): sent alone with the write end of a pipe; resolves true once the
 * manager has processed every message sent before it (it closes its copy of the write end, so the
 * read end sees POLLHUP), false when NOTIFY_SOCKET is unset. Rejects after `timeoutMs`.
 */
async function barrier(timeoutMs = 5000): Promise<boolean> {
  const value = process.env.NOTIFY_SOCKET;
  if (value === undefined) return false;
  try {
    return await barrierOnce(value, timeoutMs);
  } catch (err) {
    throw toSockactError(err, `BARRIER=1 on NOTIFY_SOCKET ${quote(value)} failed`, {
      variable: 'NOTIFY_SOCKET',
      value,
    });
  }
}

async function barrierOnce(value: string, timeoutMs: number): Promise<boolean> {
  const [readEnd, writeEnd] = pipe(O_CLOEXEC);
  try {
    try {
      send(BARRIER, { fds: [writeEnd] });
    } finally {
      closeFd(writeEnd);
    }
    const ready = await pollAsync([readEnd], timeoutMs);
    if (ready.some((r) => (r.revents & POLLHUP) !== 0)) return true;
    throw new SockactError(
      'ERR_NOTIFY_TIMEOUT',
      `no answer to BARRIER=1 on NOTIFY_SOCKET ${quote(value)} within ${timeoutMs} ms`,
      {
        variable: 'NOTIFY_SOCKET',
        value,
      },
    );
  } finally {
    closeFd(readEnd);
  }
}

/**
 * The sd_notify client (docs/protocol.md 19-23). `notify(state, { fds })` is the raw form; the helpers
 * send one fixed message each. Every call returns false when NOTIFY_SOCKET is unset, true when
 * sent, and throws when sending failed or the message is malformed.
 */
export const notify = Object.assign(send, {
  ready,
  reloading,
  /** STOPPING=1: the service is shutting down. */
  stopping: (): boolean => send(STOPPING),
  /** STATUS=<one line> shown by systemctl status. */
  status: (text: string): boolean => send({ STATUS: text }),
  /** WATCHDOG=1: keep-alive ping (see startWatchdog for the timer). */
  watchdog: (): boolean => send(WATCHDOG),
  /** WATCHDOG=trigger: ask the manager to act as if the watchdog timed out. */
  watchdogTrigger: (): boolean => send(WATCHDOG_TRIGGER),
  /** MAINPID=<pid>: another process is the service's main process now. */
  mainPid: (pid: number): boolean => {
    if (!Number.isSafeInteger(pid) || pid < 1)
      throw new SockactError('ERR_NOTIFY_MESSAGE', `MAINPID must be a process id: ${quote(pid)}`, { value: pid });
    return send({ MAINPID: pid });
  },
  /** EXTEND_TIMEOUT_USEC=<usec>: more time for the current start/stop/reload step. */
  extendTimeout: (usec: number | bigint): boolean => {
    nonNegativeInt('EXTEND_TIMEOUT_USEC', usec);
    return send({ EXTEND_TIMEOUT_USEC: usec });
  },
  /** ERRNO=<n>: the reason for a failure, as an errno number. */
  errno: (n: number): boolean => {
    nonNegativeInt('ERRNO', n);
    return send({ ERRNO: n });
  },
  /** FDSTORE=1 (+ FDNAME=, FDPOLL=0) with the fds as SCM_RIGHTS: keep them across restarts. */
  fdStore: (fds: readonly (number | { fd: number })[], options: FdStoreOptions = {}): boolean => {
    if (fds.length === 0) throw new SockactError('ERR_NOTIFY_MESSAGE', 'fdStore needs at least one fd');
    const fields: Record<string, string | number> = { FDSTORE: 1 };
    if (options.name !== undefined) {
      checkFdName(options.name);
      fields.FDNAME = options.name;
    }
    if (options.poll === false) fields.FDPOLL = 0;
    return send(fields, { fds });
  },
  /** FDSTOREREMOVE=1 + FDNAME=: drop every stored fd with that name. */
  fdStoreRemove: (name: string): boolean => {
    checkFdName(name);
    return send(`${FDSTOREREMOVE}\nFDNAME=${name}`);
  },
  barrier,
});
