import type { ChildProcess } from 'node:child_process';
import { accept, closeFd, POLLERR, POLLNVAL, pollLoop, type SockAddr, type SysError, type Watch } from '../sys/index.js';
import { acceptFailure, RETRY_SCARCE_MS } from './accept-errors.js';
import { SockactError } from '../protocol/errors.js';
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
  /** LISTEN_FDNAMES of each connection: 'connection' as systemd's Accept=yes, or --fdname's. */
  name?: string;
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
  /** Sent to every child when the launcher dies (spawnActivated's option of the same name). */
  parentDeathSignal?: NodeJS.Signals;
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

/**
 * Accept=yes (docs/protocol.md 18): the launcher accepts each connection itself and starts one child
 * for it, with the connection at fd 3 (LISTEN_FDS=1, LISTEN_FDNAMES=connection) or, in inetd
 * mode, on stdin and stdout. Connections are handed over blocking. The sockets are watches on the
 * process's one poll loop (sys/loop.ts); at the cap they are paused, so further connections wait
 * in the kernel's backlog instead of being refused, and resumed when a child exits.
 */
export function runAccept(opts: AcceptOptions): AcceptServer {
  const max = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const log = opts.log ?? (() => {});
  const warn = opts.warn ?? log;
  const command = opts.command ?? opts.program;
  const children = new Set<ChildProcess>();
  const labels = new Map(opts.sockets.map((s) => [s.fd, s.label]));
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));

  const start = (conn: number, peer: SockAddr | undefined, on: number) => {
    const setenv = { ...opts.setenv, ...remoteEnv(peer) };
    const from = peer ? ` from ${peer.family === 'unix' ? 'a UNIX peer' : `${setenv.REMOTE_ADDR}:${peer.port}`}` : '';
    let child: ChildProcess;
    try {
      const spawnOpts: SpawnActivatedOptions = {
        ...(opts.parentDeathSignal ? { parentDeathSignal: opts.parentDeathSignal } : {}),
        program: opts.program,
        args: opts.args,
        fds: opts.inetd ? [] : [conn],
        setenv,
        env: opts.env,
        uid: opts.uid,
        gid: opts.gid,
      };
      if (opts.inetd) spawnOpts.stdio = [conn, conn, 'inherit'];
      else spawnOpts.names = [opts.name ?? 'connection'];
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
      pace();
      opts.onChildExit?.(child, code, signal);
    });
  };

  /** Wait on the sockets while there is room for a child, and not while a retry is pending. */
  const pace = () => {
    if (stopped) return;
    const go = children.size < max && retry === undefined;
    for (const w of watches) (go ? w.resume : w.pause)();
  };

  const end = (err?: unknown) => {
    if (stopped) return;
    stopped = true;
    clearTimeout(retry);
    for (const w of watches) w.close();
    if (err === undefined) settle.resolve();
    else settle.reject(err);
  };

  const onReady = (fd: number) => (revents: number) => {
    if (revents & (POLLERR | POLLNVAL)) {
      const label = labels.get(fd)!;
      const message = `can't accept on ${label}: the socket failed (poll revents 0x${revents.toString(16)})`;
      return end(new SockactError('ERR_ACCEPT', message, { address: label, fd }));
    }
    let conn;
    try {
      conn = accept(fd);
    } catch (err) {
      const kind = acceptFailure((err as SysError).code);
      if (kind === 'transient') return;
      if (kind === 'scarce') {
        warn(`can't accept on ${labels.get(fd)}: ${(err as Error).message}; retrying`);
        retry = setTimeout(() => {
          retry = undefined;
          pace();
        }, RETRY_SCARCE_MS);
        return pace();
      }
      return end(err);
    }
    try {
      start(conn.fd, conn.peer, fd);
    } catch (err) {
      warn(describeStartFailure(command, err));
    }
    pace();
  };

  const loop = pollLoop();
  const watches: Watch[] = opts.sockets.map((s) => loop.watch(s.fd, onReady(s.fd), undefined, end));
  return {
    maxConnections: max,
    children,
    stop: () => end(),
    done,
  };
}
