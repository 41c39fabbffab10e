import type http from 'node:http';
import type { Http2Session } from 'node:http2';
import type net from 'node:net';
import type { Outgoing } from './migrate.js';
import { addressKey, migrating, migration } from './migration.js';
import { closeFd, dupFd, shutdownSocket } from '../sys/index.js';
import { fdOf, hasHttpParser, parserIdleSockets, responding, resumeReading, stopReading } from './node-internals.js';
import { notify } from './notify.js';

type Migrate = typeof import('./migrate.js');

/** net.Server and its subclasses (http, https, http2). */
type Server = net.Server & Partial<Pick<http.Server, 'closeIdleConnections' | 'closeAllConnections'>>;

/** An HTTP/1 connection as the drain sees it: requests in flight, and since when it is quiet. */
interface Http1Conn {
  inFlight: number;
  /** performance.now() of the last sign of life: accepted, a response done, bytes read. */
  quietSince: number;
  bytesRead: number;
}

interface Tracking {
  sockets: Set<net.Socket>;
  responses: Set<http.ServerResponse>;
  sessions: Set<Http2Session>;
  /** HTTP/1 connections (the socket 'request' sees: the TLS socket for https). */
  http1: Map<net.Socket, Http1Conn>;
  draining: boolean;
  /** Tracking began before the drain: every connection is known. */
  early: boolean;
}

const tracked = new WeakMap<net.Server, Tracking>();

function http1Conn(t: Tracking, socket: net.Socket): Http1Conn {
  let c = t.http1.get(socket);
  if (!c) {
    c = { inFlight: 0, quietSince: performance.now(), bytesRead: socket.bytesRead };
    t.http1.set(socket, c);
    socket.once('close', () => t.http1.delete(socket));
  }
  return c;
}

function track(server: net.Server, early: boolean): Tracking {
  let t = tracked.get(server);
  if (t) return t;
  t = { sockets: new Set(), responses: new Set(), sessions: new Set(), http1: new Map(), draining: false, early };
  const tt = t;
  tracked.set(server, t);
  // https: the HTTP/1 connection is the TLS socket, known once the handshake is done.
  const http1 = isHttp1(server);
  const tls = 'setSecureContext' in server;
  server.on('connection', (socket: net.Socket) => {
    tt.sockets.add(socket);
    socket.once('close', () => tt.sockets.delete(socket));
    if (http1 && !tls) http1Conn(tt, socket);
  });
  if (http1 && tls) server.on('secureConnection', (socket: net.Socket) => http1Conn(tt, socket));
  server.on('session', (session: Http2Session) => {
    tt.sessions.add(session);
    session.once('close', () => tt.sessions.delete(session));
    if (tt.draining) session.close();
  });
  // HTTP/1: before the app's own handlers, so that a handler answering at once already writes
  // "Connection: close" while draining; the client then opens its next request elsewhere
  // instead of sending it on a connection this process is about to close.
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!('shouldKeepAlive' in res)) return;
    if (tt.draining) res.shouldKeepAlive = false;
    tt.responses.add(res);
    const c = http1Conn(tt, req.socket);
    c.inFlight++;
    res.once('close', () => {
      tt.responses.delete(res);
      c.inFlight--;
      c.quietSince = performance.now();
      c.bytesRead = req.socket.bytesRead;
    });
  });
  return t;
}

function isHttp1(server: net.Server): boolean {
  return typeof (server as Server).closeIdleConnections === 'function';
}

/**
 * Follow a server's connections, HTTP/1 requests and HTTP/2 sessions from now on. Call it when
 * the server starts (shutdownOnSignal does): shutdown() can then answer every response still to
 * be written with "Connection: close", tell which keep-alive connections have been quiet long
 * enough to close, close HTTP/2 sessions with GOAWAY, and force-close connections of plain net
 * and http2 servers (http.Server can close its own with closeAllConnections).
 */
export function trackConnections(server: net.Server): void {
  track(server, true);
}

function sendStopping(): void {
  try {
    notify.stopping();
  } catch (err) {
    // Stopping matters more than telling the manager about it.
    process.emitWarning(`STOPPING=1 not sent: ${(err as Error).message}`, { code: 'SOCKACT_NOTIFY' });
  }
}

export interface ShutdownOptions {
  /** Milliseconds to let in-flight requests finish before force-closing what is left (default 10000). */
  timeout?: number;
  /**
   * Milliseconds a keep-alive connection must have been quiet (no request in flight, no byte
   * read) before the drain closes it (default 1000). A request that arrives meanwhile is served
   * with "Connection: close".
   */
  idleTimeout?: number;
  /** Send STOPPING=1 first (default true; a no-op without NOTIFY_SOCKET). */
  notify?: boolean;
  /**
   * Hand idle HTTP/1 connections (and those given to migration.register()) to a newer generation
   * under sockact's supervisor instead of closing them (default true; see migrate.ts). Without a
   * newer generation that takes them, the drain is the plain one.
   */
  migrate?: boolean;
  /**
   * Milliseconds to wait for the newer generation's answer to a batch of connections before
   * serving them here again (default 5000).
   */
  migrateTimeout?: number;
}

export interface ShutdownResult {
  /** Connections that had to be closed when the timeout ran out (0: everything drained). */
  forced: number;
}

/** Default ShutdownOptions.idleTimeout. */
const IDLE_MS = 1000;

/**
 * http.Server#close() in Node 19+ first closes every idle keep-alive connection
 * (httpServerPreClose in lib/_http_server.js). A connection is idle there from the moment its
 * response is written, which is exactly when a client in a request loop sends its next request
 * on it: closing then loses that request (wrk: one read error per connection per stop). Stop
 * accepting through the server's own close(), with that one step held back.
 */
function closeListener(server: Server, done: () => void): void {
  const own = Object.getOwnPropertyDescriptor(server, 'closeIdleConnections');
  if (isHttp1(server)) server.closeIdleConnections = () => undefined;
  try {
    // The callback's error (ERR_SERVER_NOT_RUNNING) means it was already closed: also done.
    server.close(() => done());
  } finally {
    if (own) Object.defineProperty(server, 'closeIdleConnections', own);
    else if (isHttp1(server)) delete (server as { closeIdleConnections?: unknown }).closeIdleConnections;
  }
}

/**
 * The one rule for "idle" (docs/migration.md): an HTTP/1 connection is idle when Node's HTTP parser
 * holds nothing of it, i.e. it is between two messages or has not had a byte yet (no byte of a
 * next request parsed, no request whose body is still due, even if it was answered already:
 * parserIdleSockets), no
 * request handler runs for it, no response is being written or queued, Node holds no unread byte
 * of it, and it is still parsed as HTTP (an upgraded one never is). Only an idle connection is
 * closed as quiet or handed to a newer generation: whatever the client sends next then waits in
 * the kernel, not in this process.
 */
function idle(socket: net.Socket, c: Http1Conn, parserIdle: ReadonlySet<net.Socket>): boolean {
  return (
    !socket.destroyed &&
    c.inFlight === 0 &&
    parserIdle.has(socket) &&
    hasHttpParser(socket) &&
    !responding(socket) &&
    socket.writableLength === 0 &&
    socket.readableLength === 0
  );
}

/** The idle rule's parser part, for every connection of `server` (none idle when Node cannot tell). */
function parserIdle(server: net.Server): ReadonlySet<net.Socket> {
  return parserIdleSockets(server) ?? new Set();
}

/**
 * Close the HTTP/1 keep-alive connections that are idle and stayed quiet for `idleMs` (no byte
 * read since the last look). A client that is about to reuse a connection has sent its request
 * by then, and that request was answered with "Connection: close". A client idle for longer can
 * still race with the close (as with any keepAliveTimeout, http-terminator or Go's Shutdown);
 * waiting makes that a client that paused for a second, not one in a busy loop.
 */
function closeQuiet(t: Tracking, server: net.Server, idleMs: number): void {
  const now = performance.now();
  const parsed = parserIdle(server);
  for (const [socket, c] of t.http1) {
    if (socket.bytesRead !== c.bytesRead || !idle(socket, c, parsed)) {
      c.bytesRead = socket.bytesRead;
      c.quietSince = now;
    } else if (now - c.quietSince >= idleMs) {
      socket.destroy();
    }
  }
}

/**
 * The connections of `server` that can move now: HTTP/1 ones that are idle (the rule above), and
 * those the app registered (nothing unread in Node's buffer, nothing left to write).
 */
function migratable(t: Tracking, server: net.Server, key: string): Outgoing[] {
  const out: Outgoing[] = [];
  // A TLS connection's state (keys, sequence numbers) lives in this process: https never moves.
  const http1 = 'setSecureContext' in server ? new Map<net.Socket, Http1Conn>() : t.http1;
  const parsed = http1.size > 0 ? parserIdle(server) : new Set<net.Socket>();
  for (const [socket, c] of http1) {
    if (migration.registered.has(socket) || !idle(socket, c, parsed)) continue;
    out.push({ socket, server: key, kind: 'http' });
  }
  for (const [socket, r] of migration.registered) {
    if (r.server !== server || socket.destroyed || socket.readableLength > 0 || socket.writableLength > 0) continue;
    const state = r.state();
    out.push({ socket, server: key, kind: 'app', state: typeof state === 'string' ? Buffer.from(state) : state });
  }
  return out;
}

/**
 * A connection taken back may still have a copy of its fd in the batch the successor never read
 * (SCM_RIGHTS keeps it in the receiver's queue until read or until the receiver is gone), and
 * that copy would hold the connection open after this process closed its own: the client would
 * wait on a connection nobody serves. So when this process closes it, however it does (the drain,
 * Node's closeIdleConnections, a reset, or its own exit), it shuts the connection down for every
 * copy, through a duplicate fd kept for that. The successor never adopts a connection taken back.
 */
function endForEveryCopy(socket: net.Socket): void {
  const fd = fdOf(socket);
  if (fd === undefined) return;
  let copy: number;
  try {
    copy = dupFd(fd);
  } catch {
    return; // out of fds: the connection still ends once the successor has read or is gone
  }
  if (!endsAtExit) process.once('exit', endTakenBack);
  endsAtExit = true;
  takenBack.add(copy);
  socket.once('close', () => endCopy(copy));
}

/** The duplicate fds of the connections taken back that this process has not closed yet. */
const takenBack = new Set<number>();
let endsAtExit = false;

function endCopy(copy: number): void {
  if (!takenBack.delete(copy)) return;
  try {
    shutdownSocket(copy);
  } catch {
    // nothing more to end
  }
  closeFd(copy);
}

/** At exit (the drain can end before Node has told a connection's close): end what is left. */
function endTakenBack(): void {
  for (const copy of [...takenBack]) endCopy(copy);
}

/** After a batch's hand-over: close this copy of what moved, read again what came back. */
function settleBatch(t: Tracking, batch: readonly Outgoing[], taken: ReadonlySet<net.Socket>): void {
  const now = performance.now();
  for (const o of batch) {
    // destroy(), never end(): close(2) of this copy leaves the connection to the other one.
    if (taken.has(o.socket)) {
      o.socket.destroy();
      continue;
    }
    // Taken back: what its client sent meanwhile waits in the kernel; it is read and served
    // before the connection can count as quiet again.
    endForEveryCopy(o.socket);
    resumeReading(o.socket);
    const c = t.http1.get(o.socket);
    if (c) c.quietSince = now;
  }
}

/**
 * One server's drain once it stops accepting. Plain: every response says "Connection: close" and quiet keep-alive
 * connections are closed. Migrating (a newer generation under sockact's supervisor takes connections): responses keep
 * "Connection: keep-alive" and each connection moves once it is idle, until a batch is not taken; then plain.
 */
class Drain {
  readonly #server: Server;
  readonly #t: Tracking;
  /** app/migrate.ts, under a supervisor that migrates. */
  readonly #migrate: Migrate | undefined;
  readonly #key: string | undefined;
  readonly #migrateTimeout: number | undefined;
  #migrating: boolean;
  /** A batch is being handed over: no other until its answer. */
  #passing = false;

  constructor(server: Server, options: ShutdownOptions, migrate: Migrate | undefined) {
    this.#server = server;
    this.#t = track(server, false);
    this.#migrate = migrate;
    this.#migrateTimeout = options.migrateTimeout;
    // Only with tracking from the start: a connection never seen might be idle and be closed by
    // closeIdleConnections while it is being handed over.
    this.#key = addressKey(server);
    this.#migrating =
      options.migrate !== false && this.#t.early && this.#key !== undefined && migrate?.hasSuccessor() === true;
    if (!this.#migrating) this.#plain();
    for (const session of this.#t.sessions) session.close();
    this.#pass();
  }

  #plain(): void {
    this.#t.draining = true;
    for (const res of this.#t.responses) if (!res.headersSent) res.shouldKeepAlive = false;
  }

  /** Hand the connections that are idle now to the newer generation, one batch at a time. */
  #pass(): void {
    if (!this.#migrating || this.#passing) return;
    const batch = migratable(this.#t, this.#server, this.#key!);
    if (batch.length === 0) return;
    this.#passing = true;
    // Nothing reads these any more; what the clients send meanwhile waits in the kernel for the
    // process that adopts them (or for this one again).
    for (const o of batch) stopReading(o.socket);
    void this.#migrate!.handOver(batch, this.#migrateTimeout).then((taken) => {
      this.#passing = false;
      settleBatch(this.#t, batch, taken);
      if (taken.size < batch.length) {
        this.#migrating = false;
        this.#plain();
      }
    });
  }

  /**
   * Every few ms: pass what became idle while migrating, else close quiet HTTP/1 connections (and, for those never
   * seen, Node's idle ones once `idleMs` has passed). Undefined when there is nothing to sweep.
   */
  sweep(idleMs: number): NodeJS.Timeout | undefined {
    const server = this.#server;
    if (!isHttp1(server) && !this.#migrating) return undefined;
    const start = performance.now();
    const every = Math.max(10, Math.min(100, idleMs / 4));
    return setInterval(() => {
      if (this.#migrating) return this.#pass();
      if (!isHttp1(server)) return;
      closeQuiet(this.#t, server, idleMs);
      if (!this.#t.early && performance.now() - start >= idleMs) server.closeIdleConnections!();
    }, every);
  }

  /** The timeout ran out: close what is left. Resolves with the number of connections that were open. */
  async force(closed: Promise<void>): Promise<number> {
    const { sockets, sessions } = this.#t;
    const server = this.#server;
    const forced = await new Promise<number>((resolve) => {
      server.getConnections((err, n) => resolve(err ? sockets.size : n));
    });
    for (const session of sessions) session.destroy();
    server.closeAllConnections?.();
    for (const socket of sockets) socket.destroy();
    // Connections accepted before tracking began are out of reach for a plain net.Server; do not
    // wait for them forever.
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    return forced;
  }
}

/**
 * Graceful stop (sd_notify(3) STOPPING=1): send STOPPING=1, stop accepting (server.close(),
 * which closes the adopted fd and never calls shutdown(2) on it: systemd, or the next process,
 * keeps its own copy and its queue), let in-flight requests finish, answer every request that
 * arrives meanwhile with "Connection: close", close keep-alive connections once they have been
 * quiet for `idleTimeout`, close HTTP/2 sessions with GOAWAY, and force-close whatever is left
 * after `timeout`. Resolves when done.
 *
 * Tracking from the start (trackConnections, or shutdownOnSignal) makes the drain lossless for
 * clients that keep connections alive. A server tracked only from this call on has connections
 * it never saw: their idle ones are closed with Node's closeIdleConnections once `idleTimeout`
 * has passed.
 */
export async function shutdown(server: Server, options: ShutdownOptions = {}): Promise<ShutdownResult> {
  // The hand-over's code is loaded only under a supervisor that migrates (before anything stops).
  const migrate = migrating() ? await import('./migrate.js') : undefined;
  const timeout = options.timeout ?? 10_000;
  const idleMs = Math.min(options.idleTimeout ?? IDLE_MS, timeout);
  if (options.notify !== false) sendStopping();
  // Draining: connections an older generation still hands over go to a newer one, or stay there.
  migrate?.stopReceiving();
  const drain = new Drain(server, options, migrate);
  const closed = new Promise<void>((resolve) => closeListener(server, resolve));
  const sweep = drain.sweep(idleMs);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeout);
  });
  try {
    if ((await Promise.race([closed, timedOut])) !== 'timeout') return { forced: 0 };
    return { forced: await drain.force(closed) };
  } finally {
    clearTimeout(timer);
    if (sweep) clearInterval(sweep);
  }
}

export interface ShutdownOnSignalOptions extends ShutdownOptions {
  /** Signals that start the graceful stop (default SIGTERM and SIGINT). */
  signals?: NodeJS.Signals[];
  /** Exit once stopped (default true): code 0 after a graceful stop. */
  exit?: boolean;
}

/**
 * Wire shutdown() to SIGTERM (what systemd sends on stop) and SIGINT: the first signal drains
 * every server, then exits 0; a second signal exits at once with 128+signal. Starts tracking
 * connections now, so force-closing also reaches plain net and http2 servers. Returns a function
 * that removes the handlers.
 */
export function shutdownOnSignal(servers: Server | Server[], options: ShutdownOnSignalOptions = {}): () => void {
  const list = Array.isArray(servers) ? servers : [servers];
  for (const s of list) trackConnections(s);
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // node:os is loaded here, not at import: every module an app imports costs start-up.
      void import('node:os').then(({ constants }) => process.exit(128 + (constants.signals[signal] ?? 15)));
      return;
    }
    stopping = true;
    if (options.notify !== false) sendStopping();
    void Promise.all(list.map((s) => shutdown(s, { ...options, notify: false }))).then(
      () => {
        if (options.exit !== false) process.exit(0);
      },
      (err: unknown) => {
        process.emitWarning(`shutdown failed: ${(err as Error).message}`, { code: 'SOCKACT_SHUTDOWN' });
        if (options.exit !== false) process.exit(1);
      },
    );
  };
  for (const sig of signals) process.on(sig, onSignal);
  return () => {
    for (const sig of signals) process.off(sig, onSignal);
  };
}
