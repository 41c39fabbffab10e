import type net from 'node:net';
import { receiveFds, type FdBundle } from '../app/fdpass.js';
import { bindAll, bindSocket, closeSockets, type BoundSocket } from '../launch/bind.js';
import type { ListenSpec } from '../protocol/address.js';
import { SockactError } from '../protocol/errors.js';
import { formatSockAddr, ipv4Bytes, ipv6Bytes } from '../protocol/sockaddr.js';
import { closeFd } from '../sys/fd.js';
import { socketInfo, type SocketInfo } from '../sys/socket.js';
import { connectControl, onFirstLine, parseJsonLine } from './control.js';

/**
 * `sockact --takeover`: a new sockact takes the listening sockets of the one whose control socket
 * is at PATH (the `handover` control command, answered with an fd bundle over SCM_RIGHTS), keeps
 * those its own -l name by address, binds the others, and later tells the old one to retire
 * (service.ts). The kernel's listen queue of a socket handed over is the same queue throughout:
 * nothing is refused and nothing is re-bound.
 */

/** The JSON the old sockact sends with its sockets. */
export interface TakeoverMessage {
  pid: number;
  /** Its own NOTIFY_SOCKET and WATCHDOG_USEC, when systemd started it: the new sockact notifies there. */
  notifySocket?: string;
  watchdogUsec?: string;
}

/** An open takeover: the control connection to the old sockact, kept until it has exited. */
export interface TakeoverSession {
  /** The old sockact's control socket, which the new one takes over too. */
  readonly path: string;
  readonly oldPid: number;
  /** performance.now() when the takeover began, for the takeover times in the log. */
  readonly startedAt: number;
  /** NOTIFY_SOCKET (and WATCHDOG_USEC) of the old sockact, when it has them. */
  readonly upstreamEnv: NodeJS.ProcessEnv | undefined;
  /** Tell the old sockact to stop its children gracefully and exit 0; resolves when it agreed. */
  retire(): Promise<void>;
  /** Settles when the connection closes: after retire(), the old sockact is gone. */
  readonly closed: Promise<void>;
  /** Give up: close the connection; the old sockact serves on, unaware. */
  abandon(): void;
}

export interface TakenSockets {
  /** Undefined when no sockact was at PATH: everything was bound fresh. */
  session: TakeoverSession | undefined;
  /** One per -l, in order: taken over or bound now. */
  bound: BoundSocket[];
  /** The fds of `bound` that were taken over (their socket files belong to the old sockact until it retires). */
  taken: ReadonlySet<number>;
  /** Undo: close every socket, remove the files of those bound here only, close the session. */
  abandon(): void;
}

function takeoverError(path: string, reason: string, cause?: unknown): SockactError {
  return new SockactError(
    'ERR_TAKEOVER',
    `can't take over from the sockact at ${path}: ${reason}`,
    cause === undefined ? { value: path } : { value: path, cause },
  );
}

function sameBytes(a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether a socket handed over is the one `spec` asks for: the same type, and the address
 * getsockname() reports equal to the -l address (IP addresses compared as bytes, paths as the
 * absolute paths the parser made of them). Port 0 asks for a port of its own: it matches nothing.
 * The socket options of -l (backlog, mode, reuse-port...) are not compared: a taken socket keeps
 * the ones it was made with.
 */
export function servesSpec(info: SocketInfo, spec: ListenSpec): boolean {
  const a = spec.address;
  const l = info.local;
  if (info.type !== spec.type || info.listening !== (spec.type !== 'dgram') || l === undefined) return false;
  if (a.family === 'unix') return l.family === 'unix' && l.path === a.path;
  if (a.port === 0 || l.family === 'unix' || l.port !== a.port) return false;
  if (a.family === 'inet') return l.family === 'inet' && sameBytes(ipv4Bytes(a.address), ipv4Bytes(l.address));
  // `PORT` is [::]:PORT, or 0.0.0.0:PORT where the host has no IPv6 (launch/bind.ts falls back so).
  if (a.wildcard && l.family === 'inet') return l.address === '0.0.0.0';
  return l.family === 'inet6' && ipv6Bytes(a.address).equals(ipv6Bytes(l.address));
}

/** Connect without reading: Node reads with read(2), which would drop the fds of the answer. */
async function connectQuiet(path: string, timeoutMs: number): Promise<net.Socket | undefined> {
  try {
    return await connectControl(path, timeoutMs, true);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Nobody there: the first start of a service runs the same command as every deploy.
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return undefined;
    if (code === 'ETIMEDOUT' && err instanceof SockactError)
      throw takeoverError(path, 'it did not accept the connection in time');
    throw takeoverError(path, (err as Error).message, err);
  }
}

function openSession(
  path: string,
  s: net.Socket,
  bundle: FdBundle,
  message: TakeoverMessage,
  startedAt: number,
  taken: () => number[],
): TakeoverSession {
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  s.on('error', () => {});
  const upstreamEnv =
    message.notifySocket !== undefined
      ? {
          NOTIFY_SOCKET: message.notifySocket,
          ...(message.watchdogUsec ? { WATCHDOG_USEC: message.watchdogUsec } : {}),
        }
      : undefined;
  const oldPid = bundle.peer.pid;
  return {
    path,
    oldPid,
    startedAt,
    upstreamEnv,
    closed,
    retire() {
      return new Promise<void>((resolve, reject) => {
        onFirstLine(s, (line) => {
          const answer = parseJsonLine<{ ok: boolean; message: string }>(line) ?? {};
          if (answer.ok) resolve();
          else
            reject(
              new SockactError('ERR_TAKEOVER', `pid ${oldPid} refused to retire: ${answer.message ?? line}`, {
                value: path,
              }),
            );
        });
        void closed.then(() =>
          reject(
            new SockactError('ERR_TAKEOVER', `pid ${oldPid} closed the control connection before it agreed to retire`, {
              value: path,
            }),
          ),
        );
        s.write(`${JSON.stringify({ command: 'retire', taken: taken() })}\n`);
      });
    },
    abandon() {
      s.destroy();
    },
  };
}

/**
 * Send the `handover` control command and receive the old sockact's fd bundle. The command keeps
 * that name on the wire (docs/glossary.md): any sockact can take over from an older one.
 */
async function requestSockets(path: string, s: net.Socket, timeoutMs: number): Promise<FdBundle> {
  try {
    s.write(`${JSON.stringify({ command: 'handover' })}\n`);
    return await receiveFds(s, { timeout: timeoutMs });
  } catch (err) {
    s.destroy();
    const code = (err as { code?: string }).code;
    const message = (err as Error).message;
    const reason = code === 'ERR_FDS_REFUSED' ? message.replace(/^.* refused: /, 'it refused: ') : message;
    throw takeoverError(path, reason, err);
  }
}

function parseMessage(path: string, bundle: FdBundle): TakeoverMessage {
  try {
    return JSON.parse(bundle.message.toString('utf8')) as TakeoverMessage;
  } catch (cause) {
    throw takeoverError(path, 'its answer carries no handover message', cause);
  }
}

/** The sockets of the -l list: each the one received that serves it, or one bound now. */
interface Matched {
  bound: BoundSocket[];
  /** Those bound here (their files are this sockact's to remove). */
  fresh: BoundSocket[];
  /** Indexes into the bundle's fds of those taken, which the old sockact is told of when it retires. */
  takenIndexes: number[];
  /** The fds taken. */
  keep: Set<number>;
}

/** Match each spec to a received socket (servesSpec) or bind it; on an error those bound here are closed. */
function matchSockets(specs: readonly ListenSpec[], fds: readonly number[]): Matched {
  const m: Matched = { bound: [], fresh: [], takenIndexes: [], keep: new Set() };
  const infos = fds.map((fd) => {
    try {
      return socketInfo(fd);
    } catch {
      return undefined; // not a socket: never matches
    }
  });
  try {
    for (const spec of specs) {
      const free = (j: number) => infos[j] !== undefined && !m.takenIndexes.includes(j);
      const i = infos.findIndex((info, j) => free(j) && servesSpec(info!, spec));
      if (i < 0) {
        const b = bindSocket(spec);
        m.fresh.push(b);
        m.bound.push(b);
        continue;
      }
      m.takenIndexes.push(i);
      const fd = fds[i]!;
      m.keep.add(fd);
      const local = infos[i]!.local!;
      const b: BoundSocket = { fd, spec, local, label: formatSockAddr(local) };
      if (local.family === 'unix' && !local.path.startsWith('@') && local.path !== '') b.path = local.path;
      m.bound.push(b);
    }
  } catch (err) {
    closeSockets(m.fresh);
    throw err;
  }
  return m;
}

/**
 * Ask the sockact at `path` for its sockets and make the sockets of `specs` from them: each -l
 * takes the socket of the same address (servesSpec), or is bound now when the old sockact has
 * none; sockets the old one has and no -l names are closed here at once (the old one keeps its
 * own copy, and closes it when it exits). No sockact at `path` (no file, nobody listening): every
 * -l is bound, as without --takeover. All or nothing: on any error everything made or received
 * here is closed and the old sockact is left as it was.
 */
export async function takeOver(
  path: string,
  specs: readonly ListenSpec[],
  log: (line: string) => void,
  timeoutMs = 10_000,
): Promise<TakenSockets> {
  const startedAt = performance.now();
  const s = await connectQuiet(path, timeoutMs);
  if (!s) {
    log(`no sockact is serving at ${path}: starting without a takeover`);
    const bound = bindAll(specs);
    return { session: undefined, bound, taken: new Set(), abandon: () => closeSockets(bound) };
  }
  const bundle = await requestSockets(path, s, timeoutMs);
  let m: Matched;
  let session: TakeoverSession;
  try {
    const message = parseMessage(path, bundle);
    m = matchSockets(specs, bundle.fds);
    session = openSession(path, s, bundle, message, startedAt, () => m.takenIndexes);
  } catch (err) {
    s.destroy();
    for (const fd of bundle.fds) closeFd(fd);
    throw err;
  }
  // Sockets no -l names stay with the old sockact alone.
  for (const fd of bundle.fds) if (!m.keep.has(fd)) closeFd(fd);
  const { bound, fresh, keep } = m;
  return {
    session,
    bound,
    taken: keep,
    abandon() {
      session.abandon();
      closeSockets(fresh);
      closeSockets(
        bound.filter((b) => keep.has(b.fd)),
        false,
      );
    },
  };
}
