import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { SOCK_NONBLOCK } from '../sys/constants.js';
import { closeFd } from '../sys/fd.js';
import { pollLoop, type Watch } from '../sys/loop.js';
import { recvmsg, sendmsg } from '../sys/msg.js';
import { accept, bind, connect, listenSocket, socket } from '../sys/socket.js';
import {
  BatchReceiver,
  BatchSender,
  formatMigrateMessage,
  MIGRATE_ANSWER_TIMEOUT,
  type MigrateClock,
  type MigrateEntry,
  type MigrateMessage,
  parseMigrateMessage,
} from '../protocol/migrate.js';
import { type MigrateWorker, parseServing, receiverName, SERVING_FILE } from '../protocol/migrate-dir.js';
import { receiveFds, sendFds } from './fdpass.js';
import { addressKey, migratedSockets, migration, migrationIdentity } from './migration.js';
import { countConnection, fdOf } from './node-internals.js';

/**
 * Connection migration, the hand-over itself: loaded only under a supervisor that migrates
 * (app/migration.ts holds what every process has of it). Under sockact's supervisor every child
 * gets SOCKACT_MIGRATE_DIR, a private 0700 directory. A process that listens there opens
 * `<dir>/<generation>.<worker>.migrate`, a UNIX seqpacket socket; an older generation that
 * drains (shutdown()) hands its idle connections to the generation the supervisor serves with
 * (the `serving` file it keeps in that directory) over it (SCM_RIGHTS, unix(7)) instead of
 * closing them, and the receiver adopts each one as if it had accepted it. The kernel keeps a
 * TCP connection while any process holds a fd of it (close(2): the last close releases it), so
 * the old process then closes its own copy with destroy() and the peer sees nothing: no FIN, no
 * RST, the same connection.
 *
 * Each batch is a two-phase exchange on its own connection (protocol/migrate.ts, docs/migration.md):
 * a connection has exactly one owner at every moment, and the sender reads one again only when
 * it can prove the receiver never did.
 */

const ANSWER_TIMEOUT = MIGRATE_ANSWER_TIMEOUT;
/** Batches stay within one SCM_RIGHTS message (SCM_MAX_FD). */
export const MIGRATE_BATCH = 253;

/** Servers this process serves, by listening address: where an arriving connection belongs. */
const servers = new Map<string, net.Server>();
let receiver: { fd: number; path: string; watch: Watch } | undefined;
let receiving = true;
let exitHook = false;

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
  const me = migrationIdentity();
  if (!me || receiver || !receiving) return;
  const path = join(me.dir, receiverName(me));
  let fd = -1;
  try {
    // A worker restarted in the same generation replaces the socket of the one that died.
    rmSync(path, { force: true });
    fd = socket('unix', 'seqpacket', SOCK_NONBLOCK);
    bind(fd, { family: 'unix', path });
    listenSocket(fd, 16);
  } catch (err) {
    if (fd >= 0) closeFd(fd);
    process.emitWarning(`connection migration off: can't listen on ${path}: ${(err as Error).message}`, {
      code: 'SOCKACT_MIGRATE',
    });
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
        process.emitWarning(`connection migration off: can't accept on ${path}: ${(err as Error).message}`, {
          code: 'SOCKACT_MIGRATE',
        });
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

/** The real clock of the hand-over's state machines. */
const clock: MigrateClock = {
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** Send one message of the exchange on a batch's connection. */
function send(fd: number, m: MigrateMessage): void {
  sendmsg(fd, formatMigrateMessage(m));
}

/**
 * Follow a batch's connection: each message (or its end) goes to `on`, which returns true once
 * the batch is settled; the watch then closes. recvmsg errors (ECONNRESET) count as the end.
 */
function follow(fd: number, size: number, on: (m: MigrateMessage | undefined) => boolean): Watch {
  const watch = pollLoop().watch(fd, () => {
    let m;
    try {
      m = recvmsg(fd, 65536, 0, false);
    } catch {
      m = { data: Buffer.alloc(0) };
    }
    if (!m) return; // EAGAIN: woken for nothing
    if (on(m.data.length > 0 ? parseMigrateMessage(m.data, size) : undefined)) watch.close();
  });
  return watch;
}

/** Which fds of a received batch this process can serve: a listening server, a trusted sender. */
function acceptable(entries: readonly MigrateEntry[], count: number, senderUid: number): number[] {
  // The directory is 0700, so only this user (or root) can connect; say so anyway.
  const uid = process.getuid?.();
  if (!(uid === undefined || senderUid === uid || senderUid === 0) || !receiving) return [];
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const e = entries[i];
    const server = e && servers.get(e.server);
    if (server?.listening === true && (e!.kind === 'http' || migration.listenerCount('connection') > 0)) out.push(i);
  }
  return out;
}

/** The sockets made for a batch's confirmed fds, by index, with the server each belongs to. */
type Made = Map<number, { socket: net.Socket; server: net.Server }>;

/** The receiving side of one batch (protocol/migrate.ts BatchReceiver) on an accepted connection. */
async function take(conn: number): Promise<void> {
  let bundle;
  try {
    bundle = await receiveFds(conn, { timeout: ANSWER_TIMEOUT });
  } catch {
    closeFd(conn); // whatever arrived was closed by receiveFds; the sender keeps its own copies
    return;
  }
  const { fds } = bundle;
  const parsed = parseMigrateMessage(bundle.message, fds.length);
  const entries = parsed?.type === 'conns' ? parsed.conns : [];
  const sockets: Made = new Map();
  const dropped = new Set<number>();
  let open = true;
  const finish = () => {
    if (open) closeFd(conn);
    open = false;
  };
  const timed: MigrateClock = {
    setTimer: (ms, fn) =>
      clock.setTimer(ms, () => {
        fn();
        watch?.close();
        finish();
      }),
  };
  let watch: Watch | undefined;
  const r = new BatchReceiver(fds.length, acceptable(entries, fds.length, bundle.peer.uid), timed, ANSWER_TIMEOUT, {
    accept: (indexes) => send(conn, { type: 'accept', indexes }),
    prepare: (indexes) => indexes.filter((i) => prepare(fds[i]!, entries[i]!, sockets, i)),
    ack: (indexes) => send(conn, { type: 'adopted', indexes }),
    serve: (indexes) => {
      for (const i of indexes) {
        const { socket, server } = sockets.get(i)!;
        const e = entries[i]!;
        if (e.kind === 'app') migration.emit('connection', socket, Buffer.from(e.state ?? '', 'base64'), server);
        else server.emit('connection', socket);
      }
    },
    drop: (indexes) => {
      for (const i of indexes) {
        if (dropped.has(i) || sockets.has(i)) continue;
        dropped.add(i);
        closeFd(fds[i]!);
      }
    },
  });
  if (r.state !== 'received') return finish();
  watch = follow(conn, fds.length, (m) => {
    if (m?.type === 'confirm') r.confirmed(m.indexes, receiving);
    else r.peerGone();
    finish();
    return true;
  });
}

/**
 * Make the socket of one confirmed fd, counted by its server as an accepted one would be; it is
 * not read before the sender has the receiver's `adopted` (libuv reads on a later loop turn).
 */
function prepare(fd: number, e: MigrateEntry, sockets: Made, i: number): boolean {
  const server = servers.get(e.server);
  if (!server?.listening) return false;
  let socket: net.Socket;
  try {
    socket = new net.Socket({
      fd,
      readable: true,
      writable: true,
      allowHalfOpen: (server as { allowHalfOpen?: boolean }).allowHalfOpen,
    });
  } catch {
    return false;
  }
  migratedSockets.add(socket);
  countConnection(server, socket);
  sockets.set(i, { socket, server });
  return true;
}

/**
 * The receiving sockets of newer generations that the supervisor serves with, the best first: the
 * newest, this worker's index first. Only a worker listed in the supervisor's SERVING_FILE (ready,
 * and kept) is a target: a candidate of a reload that may still fail never is, and without the
 * file there is none.
 */
function successors(): string[] {
  const me = migrationIdentity();
  if (!me) return [];
  let serving: MigrateWorker[];
  try {
    serving = parseServing(readFileSync(join(me.dir, SERVING_FILE), 'utf8'));
  } catch {
    return [];
  }
  const found: { path: string; generation: number; same: boolean }[] = [];
  for (const w of serving) {
    if (w.generation <= me.generation) continue;
    found.push({ path: join(me.dir, receiverName(w)), generation: w.generation, same: w.worker === me.worker });
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

/** One connection to hand over: its socket (not being read any more), the listener it came from, what it is. */
export interface Outgoing {
  socket: net.Socket;
  /** addressKey() of its server, taken while it listened (a closed server has no address). */
  server: string;
  kind: 'http' | 'app';
  state?: Buffer;
}

/**
 * Send `all` to the newest generation; resolves with the sockets it
 * adopted (now the receiver's: close them here with destroy(), never end(): end() sends FIN on the
 * shared connection). An empty result when there is no successor, it refused, or it is gone.
 */
export async function handOver(all: readonly Outgoing[], timeoutMs = ANSWER_TIMEOUT): Promise<Set<net.Socket>> {
  const taken = new Set<net.Socket>();
  // One bundle within SCM_MAX_FD fds and about 60 KiB of message (fdpass.ts allows 64 KiB).
  let batch: Outgoing[] = [];
  let bytes = 0;
  for (const o of all) {
    const size = 100 + Math.ceil(((o.state?.length ?? 0) * 4) / 3);
    if (batch.length > 0 && (batch.length === MIGRATE_BATCH || bytes + size > 60_000)) {
      for (const s of await handOverBatch(batch, timeoutMs)) taken.add(s);
      batch = [];
      bytes = 0;
    }
    batch.push(o);
    bytes += size;
  }
  for (const s of await handOverBatch(batch, timeoutMs)) taken.add(s);
  return taken;
}

/** The sending side of one batch (protocol/migrate.ts BatchSender): resolves with what moved. */
async function handOverBatch(batch: readonly Outgoing[], timeoutMs: number): Promise<Set<net.Socket>> {
  if (batch.length === 0) return new Set();
  const fds = batch.map((o) => fdOf(o.socket));
  if (fds.some((f) => f === undefined)) return new Set();
  let fd: number | undefined;
  try {
    fd = connectSuccessor();
  } catch {
    return new Set();
  }
  if (fd === undefined) return new Set();
  const conn = fd;
  const conns: MigrateEntry[] = batch.map((o) => ({
    server: o.server,
    kind: o.kind,
    ...(o.state ? { state: o.state.toString('base64') } : {}),
  }));
  try {
    const message = formatMigrateMessage({ type: 'conns', conns });
    await sendFds(conn, fds as number[], { message, timeout: timeoutMs });
  } catch {
    closeFd(conn); // nothing was queued: every connection is still only ours
    return new Set();
  }
  return new Promise((resolve) => {
    let watch: Watch | undefined;
    const s = new BatchSender(batch.length, clock, timeoutMs, {
      confirm: (indexes) => send(conn, { type: 'confirm', indexes }),
      settle: (moved) => {
        watch?.close();
        closeFd(conn);
        resolve(new Set([...moved].map((i) => batch[i]!.socket)));
      },
    });
    watch = follow(conn, batch.length, (m) => {
      if (m?.type === 'accept') s.accepted(m.indexes);
      else if (m?.type === 'adopted') s.adopted(m.indexes);
      else s.peerGone();
      return s.state === 'moved' || s.state === 'taken back';
    });
  });
}
