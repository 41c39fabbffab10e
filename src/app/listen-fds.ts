import { quote, SockactError } from '../protocol/errors.js';
import { fdNameAt, LISTEN_ENV_VARS, LISTEN_FDS_START, parseListenEnv } from '../protocol/listen-env.js';
import { HANDOFF_ENV } from '../protocol/handoff.js';
import { accessMode, fileKind, setCloexec, type AccessMode, type FileKind } from '../sys/fd.js';
import { formatSockAddr, type SockAddr } from '../protocol/sockaddr.js';
import { fdTarget } from '../sys/proc.js';
import { getpeername, socketInfo, type SocketFamily, type SocketType } from '../sys/socket.js';
import { toSockactError } from './boundary.js';
import { fetchHandedOff } from './handoff.js';

/**
 * One inherited fd, as sd_listen_fds_with_names() + sd_is_*() see it (docs/protocol.md 4, 7, 8). It has
 * `fd`, so it can be passed straight to `server.listen(d)` or `dgramSocket.bind(d)`.
 */
export interface ListenFd {
  readonly fd: number;
  /** From LISTEN_FDNAMES; "unknown" when it is absent. Not unique. */
  readonly name: string;
  /**
   * What fstat says: 'socket', 'fifo', 'file', 'char-device'..., or 'anon-inode' for what the
   * fd store can hand back besides (eventfd, timerfd, signalfd, pidfd, eBPF maps...).
   */
  readonly kind: FileKind | 'anon-inode';
  /** Anonymous inodes: the kind /proc/self/fd names, e.g. 'eventfd' for anon_inode:[eventfd]. */
  readonly anonInode?: string;
  /** Sockets: SO_TYPE. */
  readonly type?: SocketType;
  /** Sockets: SO_DOMAIN; undefined for families other than inet, inet6 and unix (netlink...). */
  readonly family?: SocketFamily;
  /** Sockets: SO_PROTOCOL (6 TCP, 17 UDP, 132 SCTP, 0 UNIX). */
  readonly protocol?: number;
  /** Sockets: SO_ACCEPTCONN. */
  readonly listening?: boolean;
  /**
   * Stream and seqpacket sockets that are not listening: whether they have a peer (getpeername).
   * A connection (Accept=yes) has one; a socket that is only bound, or not even that, has not.
   */
  readonly connected?: boolean;
  /** UNIX sockets: bound to an abstract name ('@name'). */
  readonly abstract?: boolean;
  /** Sockets: getsockname(). */
  readonly local?: SockAddr;
  /** Sockets: the local address as systemd prints it (127.0.0.1:80, [::1]:80, /run/x, @name). */
  readonly address?: string;
  /** FIFOs and files: how the fd was opened. */
  readonly access?: AccessMode;
}

export interface ListenFdsOptions {
  /** Remove LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PIDFDID from process.env (default true). */
  unsetEnv?: boolean;
}

type Reading = { fds: readonly ListenFd[] } | { error: unknown };
let reading: Reading | undefined;

function unsetListenEnv(): void {
  for (const name of LISTEN_ENV_VARS) delete process.env[name];
  delete process.env[HANDOFF_ENV];
}

/**
 * The fds this process inherited through socket activation, in fd order (sd_listen_fds_with_names,
 * docs/protocol.md 1-10). [] when not activated. Departure from libsystemd: LISTEN_FDS must be plain
 * decimal ("0x2" and "010" are errors).
 *
 * The environment is read once per process: listenFds(), getListeners() and listen() share that
 * reading, so every later call returns the same descriptors, or throws the same error, even
 * though the variables are gone (by default they are removed on every path: success, mismatch,
 * error). Every fd gets FD_CLOEXEC. Every open fd is described, whatever it is (the fd store
 * hands back eventfds, timerfds, memfds...). A fd in the range that is not open is an error naming
 * the fd, and so is an epoll fd: Node opens its own right after the fds it inherited, so one in
 * the range means LISTEN_FDS counts more fds than were passed. Behind a
 * wrapper started by `sockact --wrapper` (LISTEN_PID not ours, SOCKACT_FDS_SOCKET set), the fds
 * are asked of the launcher instead (protocol/handoff.ts).
 */
export function listenFds(options: ListenFdsOptions = {}): readonly ListenFd[] {
  const unsetEnv = options.unsetEnv ?? true;
  if (!reading) {
    try {
      const env = parseListenEnv(process.env, process.pid);
      const handoff = process.env[HANDOFF_ENV];
      const fds: ListenFd[] = [];
      if (!env.activated && env.reason === 'other-pid' && handoff) {
        // Behind a wrapper started by `sockact --wrapper`: ask the launcher instead of reading 3...
        const got = fetchHandedOff(handoff);
        for (const [i, fd] of got.fds.entries()) fds.push(describe(fd, got.names[i]!, got.fds.length));
      } else if (env.activated) {
        // One fd at a time: a LISTEN_FDS far larger than what was passed fails at the first fd
        // that is not ours, before anything of that size is built.
        for (let i = 0; i < env.count; i++) fds.push(describe(LISTEN_FDS_START + i, fdNameAt(env, i), env.count));
      } else if (env.reason === 'other-pid' && process.env.LISTEN_FDS !== undefined) {
        process.emitWarning(
          `LISTEN_PID=${env.pid} is not this process (${process.pid}): ` +
            `ignoring LISTEN_FDS=${process.env.LISTEN_FDS}. ` +
            'Is a wrapper (npm start, a shell without exec) between the launcher and node? See sockact --wrapper.',
          { code: 'SOCKACT_LISTEN_PID' },
        );
      }
      reading = { fds: Object.freeze(fds) };
    } catch (error) {
      reading = { error: toSockactError(error, "can't read the inherited fds") };
    } finally {
      if (unsetEnv) unsetListenEnv();
    }
  } else if (unsetEnv) {
    unsetListenEnv();
  }
  if ('error' in reading) throw reading.error;
  return reading.fds;
}

/** Whether this process was socket-activated (reads the environment once, like listenFds()). */
export function isActivated(): boolean {
  return listenFds({ unsetEnv: false }).length > 0;
}

function describe(fd: number, name: string, count: number): ListenFd {
  try {
    return inspect(fd, name, count);
  } catch (err) {
    throw toSockactError(err, `can't inspect fd ${fd} (${quote(name)})`, { fd, fdName: name });
  }
}

function inspect(fd: number, name: string, count: number): ListenFd {
  let kind: FileKind;
  try {
    kind = fileKind(fd);
  } catch (cause) {
    throw new SockactError(
      'ERR_LISTEN_FD',
      `fd ${fd} (${quote(name)}) is not open, but LISTEN_FDS=${count} says ` +
        `fds ${LISTEN_FDS_START}..${LISTEN_FDS_START + count - 1} were passed`,
      { fd, fdName: name, cause },
    );
  }
  if (kind === 'other') {
    const anonInode = anonInodeKind(fd);
    if (anonInode === 'eventpoll') {
      throw new SockactError(
        'ERR_LISTEN_FD',
        `fd ${fd} (${quote(name)}) is an epoll fd (anon_inode:[eventpoll]), ` +
          `most likely Node's own, opened right after the fds passed: ` +
          `LISTEN_FDS=${count} is probably larger than the number of fds passed`,
        { fd, fdName: name, actual: 'anon_inode:[eventpoll]', expected: 'a fd systemd passed' },
      );
    }
    setCloexec(fd);
    return Object.freeze(
      anonInode === undefined ? { fd, name, kind } : { fd, name, kind: 'anon-inode' as const, anonInode },
    );
  }
  setCloexec(fd);
  if (kind === 'fifo' || kind === 'file' || kind === 'char-device')
    return Object.freeze({ fd, name, kind, access: accessMode(fd) });
  if (kind !== 'socket') return Object.freeze({ fd, name, kind });
  const info = socketInfo(fd);
  const d: { -readonly [K in keyof ListenFd]: ListenFd[K] } = {
    fd,
    name,
    kind,
    type: info.type,
    family: info.family,
    protocol: info.protocol,
    listening: info.listening,
  };
  if (!info.listening && info.type !== 'dgram') d.connected = isConnected(fd);
  if (info.local) {
    d.local = info.local;
    d.address = formatSockAddr(info.local);
    if (info.local.family === 'unix') d.abstract = info.local.path.startsWith('@');
  }
  return Object.freeze(d);
}

/** 'eventfd' for anon_inode:[eventfd], 'bpf-map' for anon_inode:bpf-map; undefined when it is no anonymous inode. */
function anonInodeKind(fd: number): string | undefined {
  const target = fdTarget(fd);
  if (target === undefined) return undefined;
  return /^anon_inode:\[?([^\]]*)\]?$/.exec(target)?.[1];
}

function isConnected(fd: number): boolean {
  try {
    getpeername(fd);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOTCONN') return false;
    throw err;
  }
}

/** Whether a descriptor is what a net.Server can adopt: a listening TCP or UNIX stream socket. */
export function isStreamListener(d: ListenFd): boolean {
  return d.kind === 'socket' && d.type === 'stream' && d.listening === true && d.family !== undefined;
}

/** A short phrase for messages: "a TCP listener on 127.0.0.1:80", "a UNIX datagram socket on /run/x", "a FIFO". */
export function describeFd(d: ListenFd): string {
  if (d.kind !== 'socket') {
    const what: Record<FileKind, string> = {
      socket: 'a socket',
      fifo: 'a FIFO',
      file: 'a regular file',
      'char-device': 'a character device',
      'block-device': 'a block device',
      directory: 'a directory',
      symlink: 'a symlink',
      other: 'a fd of an unknown kind',
    };
    if (d.kind === 'anon-inode') return `an anonymous inode (anon_inode:[${d.anonInode}])`;
    return what[d.kind];
  }
  const on = d.address !== undefined ? ` on ${d.address}` : '';
  if (d.family === undefined) return `a socket of an address family Node does not serve (SO_TYPE ${d.type ?? '?'})`;
  const inet = d.family !== 'unix';
  if (d.type === 'stream') {
    const proto = inet ? (d.protocol === 132 ? 'SCTP' : 'TCP') : 'UNIX stream';
    if (d.listening) return `a ${proto} listener${on}`;
    return d.connected === false
      ? `a ${proto} socket${on} that is neither listening nor connected`
      : `a ${proto} connection${on}`;
  }
  if (d.type === 'dgram')
    return inet
      ? d.protocol === 17
        ? `a UDP socket${on}`
        : `an IP datagram socket (protocol ${d.protocol})${on}`
      : `a UNIX datagram socket${on}`;
  return `a ${inet ? '' : 'UNIX '}seqpacket socket${on}`;
}
