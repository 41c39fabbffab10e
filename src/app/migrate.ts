import { EventEmitter } from 'node:events';
import { readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { SOCK_NONBLOCK } from '../sys/constants.js';
import { closeFd } from '../sys/fd.js';
import { pollLoop, type Watch } from '../sys/loop.js';
import { recvmsg, sendmsg } from '../sys/msg.js';
import { accept, bind, connect, listenSocket, socket } from '../sys/socket.js';
import { receiveFds, sendFds } from './fdpass.js';

/**
 * Connection migration (seed 002: "to restart smoothly, move the existing TCP connections to the
 * new process"). Under sockact's supervisor every child gets SOCKACT_MIGRATE_DIR, a private 0700
 * directory. A process that listens there opens `<dir>/<generation>.<worker>.migrate`, a UNIX
 * seqpacket socket; an older generation that drains (shutdown()) hands its idle connections to
 * the newest one over it (SCM_RIGHTS, unix(7)) instead of closing them, and the receiver adopts
 * each one as if it had accepted it. The kernel keeps a TCP connection while any process holds a
 * fd of it (close(2): the last close releases it), so the old process then closes its own copy
 * with destroy() and the peer sees nothing: no FIN, no RST, the same connection.
 *
 * The exchange, one per batch: the sender connects, sends one fd bundle (fdpass.ts) whose
 * message is JSON {conns: [{server, kind, state?}]}, one entry per fd; the receiver adopts what
 * it can and answers with one JSON datagram {adopted: [index...]}, then both close. What is not
 * in `adopted` stays the sender's, which drains it as before: a connection is never in neither.
 */

export const MIGRATE_DIR_ENV = 'SOCKACT_MIGRATE_DIR';
const SUFFIX = '.migrate';
/** How long a sender waits for the answer; the receiver adopts synchronously once the bundle is in. */
const ANSWER_TIMEOUT = 5000;
/** Batches stay within one SCM_RIGHTS message (SCM_MAX_FD). */
export const MIGRATE_BATCH = 253;

/** What one migrated fd is: an idle HTTP/1 connection, or an app's connection with its state. */
interface Entry {
  /** The listening socket it was accepted on, as addressKey() names it. */
  server: string;
  kind: 'http' | 'app';
  /** base64 of the app's state blob (kind 'app'). */
  state?: string;
}

/** Servers this process serves, by listening address: where an arriving connection belongs. */
const servers = new Map<string, net.Server>();
const migratedSockets = new WeakSet<net.Socket>();
let receiver: { fd: number; path: string; watch: Watch } | undefined;
let receiving = true;
let exitHook = false;

/**
 * Both generations inherit the same listening socket, so they name it alike: the family,
 * address and port of server.address() (or the UNIX path).
 */
export function addressKey(server: net.Server): string | undefined {
  const a = server.address();
  if (a === null) return undefined;
  if (typeof a === 'string') return `unix:${a}`;
  return `${a.family}:${a.address}:${a.port}`;
}

function identity(): { dir: string; generation: number; worker: number } | undefined {
  const dir = process.env[MIGRATE_DIR_ENV];
  const generation = Number(process.env.SOCKACT_GENERATION);
  const worker = Number(process.env.SOCKACT_WORKER ?? '0');
  if (!dir || !Number.isSafeInteger(generation) || !Number.isSafeInteger(worker)) return undefined;
  return { dir, generation, worker };
}

/**
 * Called by listen() and getListeners() for every server they start: remember it by address and,
 * under a supervisor that migrates (SOCKACT_MIGRATE_DIR), open the receiving socket once. Never
 * fails the caller: without it connections are drained as before.
 */
export function offerMigration(server: net.Server): void {
  const key = addressKey(server);
  if (key === undefined) return;
  servers.set(key, server);
  server.once('close', () => {
    if (servers.get(key) === server) servers.delete(key);
    // The poll loop's parked poll() keeps the process alive: with nothing left to adopt
    // connections for, let it end as it would without migration.
    if (servers.size === 0) closeReceiver();
  });
  const me = identity();
  if (!me || receiver || !receiving) return;
  const path = join(me.dir, `${me.generation}.${me.worker}${SUFFIX}`);
  let fd = -1;
  try {
    // A worker restarted in the same generation replaces the socket of the one that died.
    rmSync(path, { force: true });
    fd = socket('unix', 'seqpacket', SOCK_NONBLOCK);
    bind(fd, { family: 'unix', path });
    listenSocket(fd, 16);
  } catch (err) {
    if (fd >= 0) closeFd(fd);
    process.emitWarning(`connection migration off: can't listen on ${path}: ${(err as Error).message}`, { code: 'SOCKACT_MIGRATE' });
    return;
  }
  const listening = fd;
  const watch = pollLoop().watch(listening, () => {
    for (;;) {
      let conn: number;
      try {
        conn = accept(listening, SOCK_NONBLOCK).fd;
      } catch (err) {
        if ((err as { code?: string }).code === 'EAGAIN') return; // all taken
        // EMFILE and the like: poll(2) is level-triggered and would call again at once, forever.
        // Older generations then drain their connections as before.
        process.emitWarning(`connection migration off: can't accept on ${path}: ${(err as Error).message}`, { code: 'SOCKACT_MIGRATE' });
        closeReceiver();
        return;
      }
      void take(conn);
    }
  });
  receiver = { fd: listening, path, watch };
  if (!exitHook) process.once('exit', stopReceiving);
  exitHook = true;
}

/** Take no more connections from older generations (this one drains, or exits). */
export function stopReceiving(): void {
  receiving = false;
  closeReceiver();
}

function closeReceiver(): void {
  if (!receiver) return;
  const { fd, path, watch } = receiver;
  receiver = undefined;
  watch.close();
  closeFd(fd);
  rmSync(path, { force: true });
}

/** Whether `socket` came from an older generation rather than from accept(). */
export function isMigrated(socket: net.Socket): boolean {
  return migratedSockets.has(socket);
}

/** The app's side of migration for connections that are not idle HTTP/1 (see register()). */
export class Migration extends EventEmitter {
  readonly registered = new Map<net.Socket, { server: net.Server; state: () => Buffer | string }>();

  /**
   * Opt a connection of `server` in (a WebSocket, a raw TCP protocol): when this process drains
   * and a newer generation takes connections, `state()` is called, the socket stops being read,
   * and its fd goes to the new generation with the state, where `migration.on('connection',
   * (socket, state, server) => ...)` receives it. Call it only at a point where nothing read
   * from the socket is still unprocessed (Node must not hold bytes of it). Without a newer
   * generation, or one with no 'connection' listener, nothing happens and the socket is the
   * app's to close, as before.
   */
  register(socket: net.Socket, server: net.Server, state: () => Buffer | string = () => Buffer.alloc(0)): void {
    this.registered.set(socket, { server, state });
    socket.once('close', () => this.registered.delete(socket));
  }

  unregister(socket: net.Socket): void {
    this.registered.delete(socket);
  }

  /** 'connection': a connection an older generation registered arrived, with its state blob and the server it belongs to. */
  override on(event: 'connection', listener: (socket: net.Socket, state: Buffer, server: net.Server) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }
}

/** Opt-in migration of connections that are not HTTP/1 (register(), 'connection'). */
export const migration = new Migration();

/** Receive one batch on an accepted connection, adopt what belongs here, answer which. */
async function take(conn: number): Promise<void> {
  try {
    let bundle;
    try {
      bundle = await receiveFds(conn, { timeout: ANSWER_TIMEOUT });
    } catch {
      return; // whatever arrived was closed by receiveFds; the sender keeps its own copies
    }
    let entries: Entry[] = [];
    try {
      entries = (JSON.parse(bundle.message.toString()) as { conns?: Entry[] }).conns ?? [];
    } catch {
      // not ours: adopt nothing
    }
    // The directory is 0700, so only this user (or root) can connect; say so anyway.
    const uid = process.getuid?.();
    const trusted = uid === undefined || bundle.peer.uid === uid || bundle.peer.uid === 0;
    const adopted: number[] = [];
    for (const [i, fd] of bundle.fds.entries()) {
      const e = entries[i];
      const server = e && servers.get(e.server);
      const ok = trusted && receiving && e !== undefined && server?.listening === true && (e.kind === 'http' || migration.listenerCount('connection') > 0);
      if (!ok || !adopt(fd, server!, e)) {
        closeFd(fd);
        continue;
      }
      adopted.push(i);
    }
    try {
      sendmsg(conn, Buffer.from(JSON.stringify({ adopted })));
    } catch {
      // The sender gave up waiting: it drains its copies itself (see ANSWER_TIMEOUT).
    }
  } finally {
    closeFd(conn);
  }
}

function adopt(fd: number, server: net.Server, e: Entry): boolean {
  let socket: net.Socket;
  try {
    socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: (server as { allowHalfOpen?: boolean }).allowHalfOpen });
  } catch {
    return false;
  }
  migratedSockets.add(socket);
  // As net.Server's onconnection does, so that the server counts it: close() waits for it (and
  // the next drain hands it on in turn), getConnections() includes it (lib/net.js;
  // Socket#_destroy decrements _connections).
  const s = server as net.Server & { _connections: number };
  (socket as net.Socket & { server: net.Server; _server: net.Server }).server = server;
  (socket as net.Socket & { _server: net.Server })._server = server;
  s._connections++;
  if (e.kind === 'app') migration.emit('connection', socket, Buffer.from(e.state ?? '', 'base64'), server);
  else server.emit('connection', socket);
  return true;
}

/** The receiving sockets of newer generations, the best first: the newest, this worker's index first. */
function successors(): string[] {
  const me = identity();
  if (!me) return [];
  let names: string[];
  try {
    names = readdirSync(me.dir);
  } catch {
    return [];
  }
  const found: { path: string; generation: number; same: boolean }[] = [];
  for (const n of names) {
    const m = /^(\d+)\.(\d+)\.migrate$/.exec(n);
    if (!m || Number(m[1]) <= me.generation) continue;
    found.push({ path: join(me.dir, n), generation: Number(m[1]), same: Number(m[2]) === me.worker });
  }
  found.sort((a, b) => b.generation - a.generation || Number(b.same) - Number(a.same));
  return found.map((f) => f.path);
}

/** Whether a newer generation has a receiving socket now (it may still refuse). */
export function hasSuccessor(): boolean {
  return successors().length > 0;
}

/** Connect to the first successor that answers (a socket file of a process that died refuses). */
function connectSuccessor(): number | undefined {
  for (const path of successors()) {
    const fd = socket('unix', 'seqpacket', SOCK_NONBLOCK);
    try {
      connect(fd, { family: 'unix', path });
      return fd;
    } catch {
      closeFd(fd);
    }
  }
  return undefined;
}

function answer(fd: number): Promise<number[] | undefined> {
  return new Promise((resolve) => {
    const done = (v: number[] | undefined) => {
      clearTimeout(timer);
      watch.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), ANSWER_TIMEOUT);
    const watch = pollLoop().watch(fd, () => {
      let m;
      try {
        m = recvmsg(fd, 65536, 0, false);
      } catch {
        return done(undefined);
      }
      if (!m) return;
      try {
        const a = (JSON.parse(m.data.toString()) as { adopted?: unknown }).adopted;
        done(Array.isArray(a) ? a.filter((i): i is number => Number.isInteger(i)) : undefined);
      } catch {
        done(undefined); // an empty read: the receiver closed without answering
      }
    });
  });
}

/** One connection to hand over: its socket (not being read any more), the listener it came from, what it is. */
export interface Outgoing {
  socket: net.Socket;
  /** addressKey() of its server, taken while it listened (a closed server has no address). */
  server: string;
  kind: 'http' | 'app';
  state?: Buffer;
}

/** libuv's read state of a socket: stopped, Node reads nothing more from it (bytes wait in the kernel). */
interface Readable {
  _handle?: { fd?: number; reading?: boolean; readStop?: () => number; readStart?: () => number } | null;
}

export function stopReading(socket: net.Socket): void {
  const h = (socket as unknown as Readable)._handle;
  if (!h) return;
  h.reading = false;
  h.readStop?.();
}

export function resumeReading(socket: net.Socket): void {
  const h = (socket as unknown as Readable)._handle;
  if (!h || socket.destroyed) return;
  h.reading = true;
  h.readStart?.();
}

/**
 * Send `all` to the newest generation; resolves with the sockets it
 * adopted (now the receiver's: close them here with destroy(), never end(): end() sends FIN on the
 * shared connection). An empty result when there is no successor, it refused, or it is gone.
 */
export async function handOver(all: readonly Outgoing[]): Promise<Set<net.Socket>> {
  const taken = new Set<net.Socket>();
  // One bundle within SCM_MAX_FD fds and about 60 KiB of message (fdpass.ts allows 64 KiB).
  let batch: Outgoing[] = [];
  let bytes = 0;
  for (const o of all) {
    const size = 100 + Math.ceil(((o.state?.length ?? 0) * 4) / 3);
    if (batch.length > 0 && (batch.length === MIGRATE_BATCH || bytes + size > 60_000)) {
      for (const s of await handOverBatch(batch)) taken.add(s);
      batch = [];
      bytes = 0;
    }
    batch.push(o);
    bytes += size;
  }
  for (const s of await handOverBatch(batch)) taken.add(s);
  return taken;
}

async function handOverBatch(batch: readonly Outgoing[]): Promise<Set<net.Socket>> {
  const taken = new Set<net.Socket>();
  if (batch.length === 0) return taken;
  let fd: number | undefined;
  try {
    fd = connectSuccessor();
  } catch {
    return taken;
  }
  if (fd === undefined) return taken;
  try {
    const fds = batch.map((o) => (o.socket as unknown as Readable)._handle?.fd ?? -1);
    if (fds.some((f) => f < 0)) return taken;
    const conns: Entry[] = batch.map((o) => ({
      server: o.server,
      kind: o.kind,
      ...(o.state ? { state: o.state.toString('base64') } : {}),
    }));
    await sendFds(fd, fds, { message: JSON.stringify({ conns }), timeout: ANSWER_TIMEOUT });
    const adopted = await answer(fd);
    for (const i of adopted ?? []) if (batch[i]) taken.add(batch[i].socket);
  } catch {
    // no successor after all: the caller drains these as before
  } finally {
    closeFd(fd);
  }
  return taken;
}
