import type { ChildProcess } from 'node:child_process';
import {
  accept,
  closeFd,
  POLLERR,
  POLLNVAL,
  pollLoop,
  type SockAddr,
  type SysError,
  type Watch,
} from '../sys/index.js';
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
  const acceptor = new Acceptor(opts);
  return {
    maxConnections: acceptor.max,
    children: acceptor.children,
    stop: () => acceptor.end(),
    done: acceptor.done,
  };
}

/** ' from 127.0.0.1:40000', ' from a UNIX peer', or '' when the peer's address is unknown. */
function fromPeer(peer: SockAddr | undefined): string {
  if (!peer) return '';
  return ` from ${peer.family === 'unix' ? 'a UNIX peer' : `${remoteEnv(peer).REMOTE_ADDR}:${peer.port}`}`;
}

/** Start the program for one accepted connection, and close the launcher's copy of it either way. */
function spawnForConnection(opts: AcceptOptions, conn: number, peer: SockAddr | undefined): ChildProcess {
  try {
    const spawnOpts: SpawnActivatedOptions = {
      ...(opts.parentDeathSignal ? { parentDeathSignal: opts.parentDeathSignal } : {}),
      program: opts.program,
      args: opts.args,
      fds: opts.inetd ? [] : [conn],
      setenv: { ...opts.setenv, ...remoteEnv(peer) },
      env: opts.env,
      uid: opts.uid,
      gid: opts.gid,
    };
    if (opts.inetd) spawnOpts.stdio = [conn, conn, 'inherit'];
    else spawnOpts.names = [opts.name ?? 'connection'];
    return spawnActivated(spawnOpts);
  } finally {
    // The child has its own copy now (libuv returns after exec); ours would keep the peer waiting.
    closeFd(conn);
  }
}

/**
 * The state of one runAccept(): the sockets' watches, the children running, and whether a retry
 * after a scarce accept() is pending. `pace()` decides from these whether the sockets are watched.
 */
class Acceptor {
  readonly max: number;
  readonly children = new Set<ChildProcess>();
  readonly done: Promise<void>;
  readonly #opts: AcceptOptions;
  readonly #log: (line: string) => void;
  readonly #warn: (line: string) => void;
  readonly #command: string;
  readonly #labels: Map<number, string>;
  readonly #watches: Watch[];
  #settle!: { resolve: () => void; reject: (err: unknown) => void };
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(opts: AcceptOptions) {
    this.#opts = opts;
    this.max = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.#log = opts.log ?? (() => {});
    this.#warn = opts.warn ?? this.#log;
    this.#command = opts.command ?? opts.program;
    this.#labels = new Map(opts.sockets.map((s) => [s.fd, s.label]));
    this.done = new Promise<void>((resolve, reject) => (this.#settle = { resolve, reject }));
    const loop = pollLoop();
    const onError = (err: unknown) => this.end(err);
    this.#watches = opts.sockets.map((s) => loop.watch(s.fd, (ev) => this.#onReady(s.fd, ev), undefined, onError));
  }

  /** Stop accepting: settles `done`, rejected with `err` when a socket failed for good. */
  end(err?: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#retry);
    for (const w of this.#watches) w.close();
    if (err === undefined) this.#settle.resolve();
    else this.#settle.reject(err);
  }

  /** Wait on the sockets while there is room for a child, and not while a retry is pending. */
  #pace(): void {
    if (this.#stopped) return;
    const go = this.children.size < this.max && this.#retry === undefined;
    for (const w of this.#watches) (go ? w.resume : w.pause)();
  }

  #onReady(fd: number, revents: number): void {
    if (revents & (POLLERR | POLLNVAL)) {
      const label = this.#labels.get(fd)!;
      const message = `can't accept on ${label}: the socket failed (poll revents 0x${revents.toString(16)})`;
      return this.end(new SockactError('ERR_ACCEPT', message, { address: label, fd }));
    }
    const conn = this.#acceptOne(fd);
    if (conn === undefined) return;
    try {
      this.#start(conn.fd, conn.peer, fd);
    } catch (err) {
      this.#warn(describeStartFailure(this.#command, err));
    }
    this.#pace();
  }

  /** The next connection on `fd`, or undefined when there is none to start a child for now. */
  #acceptOne(fd: number): ReturnType<typeof accept> | undefined {
    try {
      return accept(fd);
    } catch (err) {
      const kind = acceptFailure((err as SysError).code);
      if (kind === 'scarce') this.#backOff(fd, err as Error);
      else if (kind === 'fatal') this.end(err);
      return undefined;
    }
  }

  /** Out of fds or memory for a moment: stop watching (level-triggered, it would spin), then try again. */
  #backOff(fd: number, err: Error): void {
    this.#warn(`can't accept on ${this.#labels.get(fd)}: ${err.message}; retrying`);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#pace();
    }, RETRY_SCARCE_MS);
    this.#pace();
  }

  /** One child for the connection `conn` accepted on the socket `on`, tracked until it has closed. */
  #start(conn: number, peer: SockAddr | undefined, on: number): void {
    const child = spawnForConnection(this.#opts, conn, peer);
    this.children.add(child);
    child.on('error', (err) => this.#warn(describeStartFailure(this.#command, err)));
    if (child.pid !== undefined) {
      this.#log(`connection${fromPeer(peer)} on ${this.#labels.get(on)}: started ${this.#command} as pid ${child.pid}`);
    }
    child.on('exit', (code, signal) => {
      if (child.pid !== undefined) this.#log(describeExit(child.pid, code, signal));
    });
    child.on('close', (code, signal) => {
      this.children.delete(child);
      this.#pace();
      this.#opts.onChildExit?.(child, code, signal);
    });
  }
}
