import type http from 'node:http';
import type { Http2Session } from 'node:http2';
import type net from 'node:net';
import { notify } from './notify.js';

/** net.Server and its subclasses (http, https, http2). */
type Server = net.Server & Partial<Pick<http.Server, 'closeIdleConnections' | 'closeAllConnections'>>;

interface Tracking {
  sockets: Set<net.Socket>;
  responses: Set<http.ServerResponse>;
  sessions: Set<Http2Session>;
  draining: boolean;
}

const tracked = new WeakMap<net.Server, Tracking>();

/**
 * Follow a server's connections, HTTP/1 responses and HTTP/2 sessions from now on. Call it when
 * the server starts (shutdownOnSignal does): shutdown() can then answer responses still in flight
 * with "Connection: close", close HTTP/2 sessions with GOAWAY, and force-close connections of
 * plain net and http2 servers (http.Server can close its own with closeAllConnections).
 */
export function trackConnections(server: net.Server): void {
  if (tracked.has(server)) return;
  const t: Tracking = { sockets: new Set(), responses: new Set(), sessions: new Set(), draining: false };
  tracked.set(server, t);
  server.on('connection', (socket: net.Socket) => {
    t.sockets.add(socket);
    socket.once('close', () => t.sockets.delete(socket));
  });
  server.on('session', (session: Http2Session) => {
    t.sessions.add(session);
    session.once('close', () => t.sessions.delete(session));
    if (t.draining) session.close();
  });
  // HTTP/1: a response not yet sent when draining starts, or a request arriving while draining,
  // is answered with "Connection: close", so the client does not reuse a closing connection.
  server.on('request', (_req: unknown, res: http.ServerResponse) => {
    if (!('shouldKeepAlive' in res)) return;
    if (t.draining) res.shouldKeepAlive = false;
    t.responses.add(res);
    res.once('close', () => t.responses.delete(res));
  });
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
  /** Send STOPPING=1 first (default true; a no-op without NOTIFY_SOCKET). */
  notify?: boolean;
}

export interface ShutdownResult {
  /** Connections that had to be closed when the timeout ran out (0: everything drained). */
  forced: number;
}

// How often idle keep-alive connections are swept while draining: a request finishing leaves its
// connection idle, and Node 20's server.close() does not close it (it waits for keepAliveTimeout).
const SWEEP_MS = 50;

/**
 * Graceful stop (docs/protocol.md 9, 21): send STOPPING=1, stop accepting (server.close(),
 * which closes the adopted fd and never calls shutdown(2) on it: systemd keeps its own copy), let
 * in-flight requests finish, close idle keep-alive connections as they become idle, and
 * force-close whatever is left after `timeout`. Resolves when done.
 */
export async function shutdown(server: Server, options: ShutdownOptions = {}): Promise<ShutdownResult> {
  const timeout = options.timeout ?? 10_000;
  if (options.notify !== false) sendStopping();
  trackConnections(server);
  const t = tracked.get(server)!;
  t.draining = true;
  for (const res of t.responses) if (!res.headersSent) res.shouldKeepAlive = false;
  for (const session of t.sessions) session.close();

  const closed = new Promise<void>((resolve) => {
    // The callback's error (ERR_SERVER_NOT_RUNNING) means it was already closed: also done.
    server.close(() => resolve());
  });
  server.closeIdleConnections?.();
  const sweep = server.closeIdleConnections ? setInterval(() => server.closeIdleConnections!(), SWEEP_MS) : undefined;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeout);
  });
  try {
    if ((await Promise.race([closed, timedOut])) !== 'timeout') return { forced: 0 };
    const forced = await new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? t.sockets.size : n)));
    for (const session of t.sessions) session.destroy();
    server.closeAllConnections?.();
    for (const socket of t.sockets) socket.destroy();
    // Connections accepted before tracking began are out of reach for a plain net.Server; do not
    // wait for them forever.
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    return { forced };
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

