import type net from 'node:net';

/**
 * Every reach into Node's private internals, in one module (test/architecture.test.ts holds it):
 * a Node release that changes one of them breaks one function here, and test/app/node-internals
 * .test.ts names the internal and the Node version. Each function degrades to "not known"
 * (undefined, false) rather than throwing, so a changed internal turns migration off instead of
 * failing the app. The internals, as lib/net.js and lib/_http_server.js of Node 20-26 have them:
 * - net.Socket#_handle / net.Server#_handle: the libuv handle (TCPWrap, PipeWrap): `fd`,
 *   `reading`, readStart(), readStop().
 * - net.Server#_connections: the count close() waits for and getConnections() reports.
 * - net.Socket#server, #_server: the server a socket was accepted on (onconnection sets both).
 * - net.Socket#parser: the HTTP/1 parser of a server connection (null once upgraded or freed).
 * - net.Socket#_httpMessage: the response being written on it.
 * - http.Server[Symbol('http.server.connections')]: the ConnectionsList (src/node_http_parser.cc)
 *   whose idle() lists the parsers that are between messages: the exact rule Node's own
 *   closeIdleConnections() uses.
 */

interface Handle {
  fd?: number;
  reading?: boolean;
  readStart?: () => number;
  readStop?: () => number;
}

function handleOf(s: net.Socket | net.Server): Handle | undefined {
  const h = (s as unknown as { _handle?: Handle | null })._handle;
  return h ?? undefined;
}

/** The fd of a socket or server's libuv handle; undefined before connect/listen, after close, or on Windows. */
export function fdOf(s: net.Socket | net.Server): number | undefined {
  const fd = handleOf(s)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Whether libuv is reading the socket now (bytes go from the kernel into Node). */
export function isReading(socket: net.Socket): boolean {
  return handleOf(socket)?.reading === true;
}

/**
 * Stop libuv reading from the socket: what the peer sends stays in the kernel. `reading` is
 * cleared too, so that a later pause()/resume() of the stream does not restart it behind our back
 * (lib/net.js tryReadStart checks it).
 */
export function stopReading(socket: net.Socket): void {
  const h = handleOf(socket);
  if (!h) return;
  h.reading = false;
  h.readStop?.();
}

/** Undo stopReading(): libuv reads again, the bytes that waited in the kernel first. */
export function resumeReading(socket: net.Socket): void {
  const h = handleOf(socket);
  if (!h || socket.destroyed) return;
  h.reading = true;
  h.readStart?.();
}

/**
 * Make `server` count a socket it did not accept, as net.Server's onconnection does: close()
 * waits for it, getConnections() includes it, and Socket#_destroy decrements the count again.
 */
export function countConnection(server: net.Server, socket: net.Socket): void {
  const s = server as net.Server & { _connections: number };
  const so = socket as net.Socket & { server: net.Server; _server: net.Server };
  so.server = server;
  so._server = server;
  s._connections++;
}

/** The HTTP/1 parser Node's server attached to `socket`, or undefined (not HTTP, upgraded, freed). */
function parserOf(socket: net.Socket): object | undefined {
  const p = (socket as unknown as { parser?: object | null }).parser;
  return p ?? undefined;
}

/** Whether a response is being written on `socket` (Node's server queues the next ones behind it). */
export function responding(socket: net.Socket): boolean {
  return (socket as unknown as { _httpMessage?: unknown })._httpMessage != null;
}

interface ConnectionsList {
  all(): { socket?: net.Socket }[];
  idle(): { socket?: net.Socket }[];
}

function connectionsList(server: net.Server): ConnectionsList | undefined {
  const sym = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
  const list = sym && (server as unknown as Record<symbol, unknown>)[sym];
  const l = list as ConnectionsList | undefined;
  return l && typeof l.idle === 'function' && typeof l.all === 'function' ? l : undefined;
}

/**
 * The sockets of an http.Server whose HTTP parser holds nothing: between two messages (no byte
 * of the next request parsed, no request whose body is still due), as Node's
 * ConnectionsList::Idle says (last_message_start_ == 0: set by on_message_begin, cleared by
 * on_message_complete), or not given a single byte yet (Node counts a fresh connection as in a
 * message from its start, for headersTimeout; its parser has nothing either). Undefined when
 * this Node has no such list (then no connection counts as idle).
 */
export function parserIdleSockets(server: net.Server): Set<net.Socket> | undefined {
  const list = connectionsList(server);
  if (!list) return undefined;
  const out = new Set<net.Socket>();
  for (const p of list.idle()) if (p.socket && parserOf(p.socket) === p) out.add(p.socket);
  for (const p of list.all()) if (p.socket && parserOf(p.socket) === p && p.socket.bytesRead === 0) out.add(p.socket);
  return out;
}

/** Whether `socket` is still parsed as HTTP/1 (a parser attached: not upgraded, not freed). */
export function hasHttpParser(socket: net.Socket): boolean {
  return parserOf(socket) !== undefined;
}
