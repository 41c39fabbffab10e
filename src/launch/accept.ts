import type { ChildProcess } from 'node:child_process';
import {
  accept,
  closeFd,
  O_CLOEXEC,
  O_NONBLOCK,
  pipe,
  POLLERR,
  POLLNVAL,
  pollAsync,
  writeFd,
  type SockAddr,
  type SysError,
} from '../sys/index.js';
import { LaunchError } from './errors.js';
import { describeExit, describeStartFailure, spawnActivated, type SpawnActivatedOptions } from './spawn.js';

/** MaxConnections= default in systemd.socket. */
export const DEFAULT_MAX_CONNECTIONS = 64;

export interface AcceptOptions {
  /** Listening stream or seqpacket sockets to accept on, with their labels for messages. */
  sockets: readonly { fd: number; label: string }[];
  program: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  setenv?: Record<string, string>;
  /** The connection on stdin and stdout instead of fd 3, and no LISTEN_* (inetd's protocol). */
  inetd?: boolean;
  /** At most this many children at once; more connections wait in the backlog. */
  maxConnections?: number;
  uid?: number;
  gid?: number;
  /** One-line lifecycle messages. */
  log?: (line: string) => void;
  /** One-line error messages (a child that could not start, a failed accept); `log` by default. */
  warn?: (line: string) => void;
  /** How messages name the program ("node server.js"); `program` by default. */
  command?: string;
  /** Called when a child has exited and its slot is free. */
  onChildExit?: (child: ChildProcess, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface AcceptServer {
  /** The cap in effect. */
  readonly maxConnections: number;
  /** The children running now. */
  readonly children: ReadonlySet<ChildProcess>;
  /** Stop accepting (the sockets stay open, the children run on). */
  stop(): void;
  /** Settles when accepting has stopped: after stop(), or rejected when a socket fails for good. */
  readonly done: Promise<void>;
}

/** REMOTE_ADDR and REMOTE_PORT as systemd sets them for Accept=yes; IPv4-mapped peers as IPv4. */
export function remoteEnv(peer: SockAddr | undefined): Record<string, string> {
  if (!peer || peer.family === 'unix') return {};
  const addr = peer.family === 'inet6' ? peer.address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1') : peer.address;
  return { REMOTE_ADDR: addr, REMOTE_PORT: String(peer.port) };
}

/** accept4 errors that concern one connection (it went away) or a moment of scarcity, not the socket. */
const TRANSIENT = new Set(['ECONNABORTED', 'EINTR', 'EAGAIN', 'EPROTO', 'EPERM', 'ENETDOWN', 'ENONET', 'EHOSTDOWN', 'EHOSTUNREACH', 'ENETUNREACH', 'EOPNOTSUPP']);
const SCARCE = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/**
 * Accept=yes (docs/protocol.md 18): the launcher accepts each connection itself and starts one child
 * for it, with the connection at fd 3 (LISTEN_FDS=1, LISTEN_FDNAMES=connection) or, in inetd
 * mode, on stdin and stdout. Connections are handed over blocking. At the cap the launcher stops
 * polling, so further connections wait in the kernel's backlog instead of being refused.
 */
export function runAccept(opts: AcceptOptions): AcceptServer {
  const max = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const log = opts.log ?? (() => {});
  const warn = opts.warn ?? log;
  const command = opts.command ?? opts.program;
  const children = new Set<ChildProcess>();
  const fds = opts.sockets.map((s) => s.fd);
  const labels = new Map(opts.sockets.map((s) => [s.fd, s.label]));
  // A byte on this pipe ends a poll() parked on the threadpool, so stop() takes effect at once.
  const [wakeRead, wakeWrite] = pipe(O_CLOEXEC | O_NONBLOCK);
  let stopped = false;
  let slotFreed: (() => void) | undefined;

  const start = (conn: number, peer: SockAddr | undefined, on: number) => {
    const setenv = { ...opts.setenv, ...remoteEnv(peer) };
    const from = peer ? ` from ${peer.family === 'unix' ? 'a UNIX peer' : `${setenv.REMOTE_ADDR}:${peer.port}`}` : '';
    let child: ChildProcess;
    try {
      const spawnOpts: SpawnActivatedOptions = { program: opts.program, fds: opts.inetd ? [] : [conn], setenv };
      if (opts.inetd) spawnOpts.stdio = [conn, conn, 'inherit'];
      else spawnOpts.names = ['connection'];
      if (opts.args) spawnOpts.args = opts.args;
      if (opts.env) spawnOpts.env = opts.env;
      if (opts.uid !== undefined) spawnOpts.uid = opts.uid;
      if (opts.gid !== undefined) spawnOpts.gid = opts.gid;
      child = spawnActivated(spawnOpts);
    } finally {
      // The child has its own copy now (libuv returns after exec); ours would keep the peer waiting.
      closeFd(conn);
    }
    children.add(child);
    child.on('error', (err) => warn(describeStartFailure(command, err)));
    if (child.pid !== undefined) log(`connection${from} on ${labels.get(on)}: started ${command} as pid ${child.pid}`);
    child.on('exit', (code, signal) => {
      if (child.pid !== undefined) log(describeExit(child.pid, code, signal));
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      slotFreed?.();
      opts.onChildExit?.(child, code, signal);
    });
  };

  const loop = async () => {
    while (!stopped) {
      if (children.size >= max) {
        await new Promise<void>((resolve) => (slotFreed = resolve));
        slotFreed = undefined;
        continue;
      }
      let ready;
      try {
        ready = await pollAsync([wakeRead, ...fds], -1);
      } catch (err) {
        if ((err as SysError).code === 'EINTR') continue;
        throw err;
      }
      for (const { fd, revents } of ready) {
        if (stopped || children.size >= max) break;
        if (fd === wakeRead) continue;
        if (revents & (POLLERR | POLLNVAL)) {
          const label = labels.get(fd)!;
          const message = `can't accept on ${label}: the socket failed (poll revents 0x${revents.toString(16)})`;
          throw new LaunchError('ERR_ACCEPT', message, 1, { address: label, fd });
        }
        let conn;
        try {
          conn = accept(fd);
        } catch (err) {
          const code = (err as SysError).code;
          if (TRANSIENT.has(code)) continue;
          if (SCARCE.has(code)) {
            warn(`can't accept on ${labels.get(fd)}: ${(err as Error).message}; retrying`);
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          throw err;
        }
        try {
          start(conn.fd, conn.peer, fd);
        } catch (err) {
          warn(describeStartFailure(command, err));
        }
      }
    }
  };

  const done = loop().finally(() => {
    // Also after a failure: stop() must not write to the closed pipe, whose number may be reused.
    stopped = true;
    closeFd(wakeRead);
    closeFd(wakeWrite);
  });
  return {
    maxConnections: max,
    children,
    stop() {
      if (stopped) return;
      stopped = true;
      writeFd(wakeWrite, Buffer.from([1]));
      slotFreed?.();
    },
    done,
  };
}
