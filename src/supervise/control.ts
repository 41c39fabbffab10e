import { accessSync, constants, lstatSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SockactError, usageError } from '../protocol/errors.js';
import { fdOf } from '../app/node-internals.js';
import { formatFdRefusal } from '../protocol/fdpass.js';
import { errorReason } from '../sys/errors.js';
import { closeFd } from '../sys/fd.js';
import { closePath, openNoFollow } from '../sys/file.js';
import { bind, listenSocket, peerCredentials, socket } from '../sys/socket.js';

/**
 * The control socket: `sockact status|reload|stop` talk to a running sockact over a UNIX stream
 * socket in a 0700 directory. One JSON request line, JSON answer lines. Only the same uid, or
 * root, is served (SO_PEERCRED), whatever the file's mode says.
 */

export type ControlCommand = 'status' | 'reload' | 'stop';

export interface ControlHandlers {
  status(): unknown;
  reload(): Promise<{ ok: boolean; message: string }>;
  stop(): void;
  /**
   * The `handover` command: a new sockact takes over (docs/glossary.md, supervise/takeover.ts).
   * The sockets to send, or why not. The command keeps its name on the wire for older sockacts.
   */
  handover?(peerPid: number): TakeoverOffer | string;
}

/** What a sockact hands to the one taking over: its sockets, and what it does when told to retire. */
export interface TakeoverOffer {
  fds: readonly number[];
  names: readonly string[];
  /** JSON sent with the fds. */
  message: string;
  /** `retire` came on the same connection, naming the indexes of the fds the new sockact kept. */
  retire(taken: readonly number[]): void;
  /** The connection closed without `retire`: the takeover was given up. */
  abandoned(): void;
}

/**
 * Where control sockets live by default: /run/sockact as root, $XDG_RUNTIME_DIR/sockact for a
 * user with a session, else $TMPDIR/sockact-UID. `sockact status` looks there when not told where.
 */
export function controlDir(env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/sockact';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'sockact');
  return join(tmpdir(), `sockact-${uid}`);
}

/** The control socket of a sockact run with --name NAME. */
export function controlPathFor(name: string): string {
  if (!/^[\w.@:+-]+$/.test(name) || name.startsWith('.')) {
    throw usageError(`--name '${name}': use letters, digits and . _ - @ : + only`, { value: name });
  }
  return join(controlDir(), `${name}.sock`);
}

/**
 * node:net, loaded when first used rather than imported: it is some twenty modules, and a
 * plain launch needs them only once its program has started (serveControl).
 */
function nodeNet(): typeof net {
  return process.getBuiltinModule('node:net');
}

/**
 * Connect to the UNIX socket at `path`, or reject with the socket's error (ENOENT, ECONNREFUSED...)
 * or, after `timeoutMs`, with ETIMEDOUT. `paused`: nothing is read until the caller resumes, as
 * an fd bundle needs (Node reads with read(2), which would drop the fds).
 */
export function connectControl(path: string, timeoutMs = 2000, paused = false): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = new (nodeNet().Socket)();
    if (paused) s.pause();
    const t = setTimeout(() => {
      s.destroy();
      reject(new SockactError('ETIMEDOUT', 'timed out', { value: path }));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    s.connect(path);
  });
}

/** Whether a sockact answers at `path`: a stale socket file refuses the connection. */
function isLive(path: string, timeoutMs?: number): Promise<boolean> {
  return connectControl(path, timeoutMs).then(
    (s) => {
      s.destroy();
      return true;
    },
    () => false,
  );
}

function controlError(path: string, reason: string, cause?: unknown): SockactError {
  return new SockactError('ERR_CONTROL', `can't make the control socket ${path}: ${reason}`, { value: path, cause });
}

/** mkdir(2) with exactly `mode`, whatever the umask (restored before anything else runs). */
function mkdirExactly(dir: string, mode: number): void {
  const old = process.umask(0);
  try {
    mkdirSync(dir, mode);
  } finally {
    process.umask(old);
  }
}

/**
 * Make the directory of the control socket at `path` usable, before anything is bound: each
 * missing directory is made with one mkdir(2), 0700, from the top down (never mkdirSync's
 * recursive mode: Node 20's loops forever where mkdir says ENOENT under a parent that exists,
 * as in /proc), then checked through an O_NOFOLLOW fd to be the directory just made, ours, 0700.
 * The socket's own directory must be a real directory (not a symlink), ours and writable, and
 * nothing but a (stale) socket may stand at `path`. Existing parents are looked through, as
 * systemd's mkdir_parents() does. Throws a SockactError that names the path and the reason.
 */
export function prepareControlDir(path: string): void {
  const dir = dirname(path);
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    let st;
    try {
      st = statSync(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a file stands higher up, and is named once the walk reaches it.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && d !== dirname(d)) {
        missing.unshift(d);
        continue;
      }
      throw controlError(path, `${d}: ${errorReason(err)}`, err);
    }
    if (!st.isDirectory()) throw controlError(path, `${d} is not a directory`);
    break;
  }
  for (const d of missing) {
    try {
      mkdirExactly(d, 0o700);
    } catch (err) {
      // Made by someone else meanwhile: checked below like any existing directory.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw controlError(path, `can't create the directory ${d}: ${errorReason(err)}`, err);
    }
    let made;
    try {
      made = openNoFollow(d, true);
      closePath(made.fd);
    } catch (err) {
      throw controlError(path, `${d} was replaced while sockact created it: ${errorReason(err)}`, err);
    }
    if (made.stat.uid !== process.geteuid?.() || (made.stat.mode & 0o7777) !== 0o700) {
      throw controlError(path, `${d} was replaced while sockact created it`);
    }
  }
  checkOwnDir(path, dir);
}

/** The socket's own directory: a real directory of ours that sockact can create a socket in. */
function checkOwnDir(path: string, dir: string): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw controlError(path, `${dir}: ${errorReason(err)}`, err);
  }
  if (st.isSymbolicLink())
    throw controlError(path, `${dir} is a symlink (sockact does not look through one for its control socket)`);
  if (!st.isDirectory()) throw controlError(path, `${dir} is not a directory`);
  const uid = process.geteuid?.() ?? st.uid;
  if (st.uid !== uid) throw controlError(path, `${dir} belongs to uid ${st.uid}`);
  try {
    // EROFS on a read-only file system, EACCES for a directory without write permission.
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw controlError(path, `${dir}: ${errorReason(err)}`, err);
  }
  let at;
  try {
    at = lstatSync(path);
  } catch {
    return; // free
  }
  if (!at.isSocket()) throw controlError(path, 'something else is there');
}

export interface ControlServer {
  path: string;
  /** Move the socket file to `path` with rename(2), replacing whatever socket is there in one step. */
  moveTo(path: string): void;
  /** Stop serving and remove the socket file, unless it is not ours any more (a takeover replaced it). */
  close(): void;
}

/**
 * Listen for control requests at `path`. A live control socket there (another sockact) is an
 * error; a stale one (nobody answers) is replaced, but only if it is a socket.
 */
export async function serveControl(path: string, handlers: ControlHandlers): Promise<ControlServer> {
  prepareControlDir(path);
  await removeStale(path);
  const fd = bindControl(path);
  const myUid = process.getuid?.() ?? 0;
  return new ControlSocket(path, fd, (conn) => serveConnection(conn, handlers, myUid));
}

/** Clear `path` for a new control socket: nothing there, or a socket nobody answers on. */
async function removeStale(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // free
  }
  if (!st.isSocket()) throw controlError(path, 'something else is there');
  if (await isLive(path)) throw controlError(path, 'another sockact is using it');
  unlinkSync(path);
}

/**
 * Bound here, not by server.listen(path): libuv unlinks the path it bound when the server closes,
 * whatever file is there by then, and after a takeover that is the new sockact's socket.
 */
function bindControl(path: string): number {
  const fd = socket('unix', 'stream');
  try {
    bind(fd, { family: 'unix', path });
    listenSocket(fd, 64);
  } catch (err) {
    closeFd(fd);
    throw controlError(path, errorReason(err), err);
  }
  return fd;
}

/** One control connection: served if its peer is this uid or root (SO_PEERCRED), one request line. */
function serveConnection(conn: net.Socket, handlers: ControlHandlers, myUid: number): void {
  const fd = fdOf(conn);
  const peer = fd !== undefined ? peerCredentials(fd) : undefined;
  if (!peer || (peer.uid !== myUid && peer.uid !== 0)) {
    const message = `permission denied: uid ${peer?.uid ?? '?'} is not uid ${myUid} or root`;
    conn.end(`${JSON.stringify({ ok: false, message })}\n`);
    return;
  }
  const peerPid = peer.pid;
  conn.on('error', () => {});
  onFirstLine(conn, (line) => {
    void answer(line, conn, handlers, peerPid);
  });
}

/** How long the control socket queues connections before Node serves it (ControlSocket). */
const SERVE_AFTER_MS = 25;

/** The listening control socket and the file it made. */
class ControlSocket implements ControlServer {
  #server: net.Server | undefined;
  #closed = false;
  #current: string;
  /** The file this server made, by inode: a takeover renames another sockact's socket over it, which must stay. */
  readonly #mine: { ino: bigint; dev: bigint };

  constructor(
    path: string,
    private readonly fd: number,
    serve: (conn: net.Socket) => void,
  ) {
    this.#current = path;
    this.#mine = lstatSync(path, { bigint: true });
    // It listens now, and the kernel queues what connects. Node serves it SERVE_AFTER_MS later: a
    // client waits that much at most, and a program that is over by then (a batch job, a failed
    // start) never costs sockact node:net and its twenty modules.
    const start = setTimeout(() => {
      if (this.#closed) return;
      const server = nodeNet().createServer({ allowHalfOpen: true }, serve);
      server.on('error', () => {});
      server.listen({ fd });
      server.unref();
      this.#server = server;
    }, SERVE_AFTER_MS);
    start.unref();
  }

  get path(): string {
    return this.#current;
  }

  moveTo(to: string): void {
    renameSync(this.#current, to);
    this.#current = to;
  }

  close(): void {
    this.#closed = true;
    if (this.#server) this.#server.close();
    else closeFd(this.fd);
    try {
      const st = lstatSync(this.#current, { bigint: true });
      if (st.isSocket() && st.ino === this.#mine.ino && st.dev === this.#mine.dev) unlinkSync(this.#current);
    } catch {
      // gone already
    }
  }
}

async function answer(line: string, conn: net.Socket, h: ControlHandlers, peerPid: number): Promise<void> {
  const reply = (o: unknown) => conn.write(`${JSON.stringify(o)}\n`);
  const req = parseJsonLine<{ command: string }>(line);
  if (!req) {
    reply({ ok: false, message: 'not a JSON request' });
    return void conn.end();
  }
  switch (req.command) {
    case 'status':
      reply({ ok: true, status: h.status() });
      return void conn.end();
    case 'reload': {
      const o = await h.reload();
      reply(o);
      return void conn.end();
    }
    case 'stop':
      // The answer comes now; the connection closes when sockact is gone.
      reply({ ok: true, message: 'stopping' });
      h.stop();
      return;
    // A takeover; the command keeps its older name on the wire so that any sockact can take over from an older one.
    case 'handover':
      return answerTakeover(conn, h, peerPid);
    default:
      reply({ ok: false, message: `unknown command ${JSON.stringify(req.command)}` });
      conn.end();
  }
}

/**
 * A takeover (the `handover` command): the answer is an fd bundle (app/fdpass.ts) of the
 * sockets, or a refusal in the same framing. The connection then stays open:
 * `{"command":"retire","taken":[...]}` on it makes this sockact retire (answered with one line,
 * then closed when it exits); a close before that means the new sockact gave up, and this one
 * serves on as if nothing happened.
 */
async function answerTakeover(conn: net.Socket, h: ControlHandlers, peerPid: number): Promise<void> {
  const offer = h.handover ? h.handover(peerPid) : 'this sockact does not hand over its sockets';
  if (typeof offer === 'string') {
    conn.end(formatFdRefusal(offer));
    return;
  }
  let settled = false;
  const abandon = () => {
    if (settled) return;
    settled = true;
    offer.abandoned();
  };
  // allowHalfOpen: the new sockact hanging up is an 'end' first, and 'close' only once this side ends too.
  conn.on('end', () => {
    if (!settled) conn.destroy();
  });
  conn.on('close', abandon);
  try {
    // Loaded only here: every sockact serves a control socket, few are ever taken over.
    const { sendFds } = await import('../app/fdpass.js');
    await sendFds(conn, offer.fds, { names: offer.names, message: offer.message });
  } catch {
    conn.destroy();
    return abandon();
  }
  onFirstLine(conn, (line) => {
    const req = parseJsonLine<{ command: string; taken: unknown }>(line) ?? {};
    const taken = Array.isArray(req.taken)
      ? req.taken.filter((i): i is number => Number.isInteger(i) && i >= 0 && i < offer.fds.length)
      : undefined;
    if (req.command !== 'retire' || !taken) {
      conn.end(
        `${JSON.stringify({ ok: false, message: 'expected {"command":"retire","taken":[...]} after a handover' })}\n`,
      );
      return;
    }
    settled = true;
    // The answer comes now; the connection closes when this sockact is gone.
    conn.write(`${JSON.stringify({ ok: true, message: 'retiring' })}\n`);
    offer.retire(taken);
  });
}

/**
 * Call `then` with the first line the peer sends (a request, an answer); one longer than 4096
 * bytes ends the connection. Sets the encoding to UTF-8 and resumes a paused socket.
 */
export function onFirstLine(conn: net.Socket, then: (line: string) => void): void {
  let buf = '';
  conn.setEncoding('utf8');
  conn.on('data', (chunk: string | Buffer) => {
    buf += chunk;
    const nl = buf.indexOf('\n');
    if (nl < 0) {
      if (buf.length > 4096) conn.destroy();
      return;
    }
    conn.removeAllListeners('data');
    then(buf.slice(0, nl));
  });
  conn.resume();
}

/** The JSON object on one line, or undefined for anything else (not JSON, null, a number, an array). */
export function parseJsonLine<T extends object>(line: string): Partial<T> | undefined {
  try {
    const o: unknown = JSON.parse(line);
    return typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Partial<T>) : undefined;
  } catch {
    return undefined;
  }
}

/** Live control sockets in the default directory, by name. */
export async function liveControls(dir = controlDir()): Promise<string[]> {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.sock'));
  } catch {
    return [];
  }
  const live: string[] = [];
  for (const n of names) {
    if (await isLive(join(dir, n), 1000)) live.push(n.slice(0, -'.sock'.length));
  }
  return live;
}

/**
 * Send one command and collect the answer lines. For `stop`, waits until the connection closes
 * (sockact has exited) after the first answer.
 */
export async function sendControl(
  path: string,
  command: ControlCommand,
): Promise<{ ok: boolean; message?: string; status?: unknown }> {
  let s: net.Socket;
  try {
    s = await connectControl(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'no sockact is listening there' : (err as Error).message;
    throw new SockactError('ERR_CONTROL', `can't reach the control socket ${path}: ${why}`, {
      value: path,
      cause: err,
    });
  }
  s.setEncoding('utf8');
  s.write(`${JSON.stringify({ command })}\n`);
  let text = '';
  s.on('data', (c: string) => (text += c));
  await new Promise<void>((resolve) => {
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
  const first = text.split('\n').find((l) => l.trim() !== '');
  if (!first)
    throw new SockactError('ERR_CONTROL', `the sockact at ${path} closed the connection without an answer`, {
      value: path,
    });
  return JSON.parse(first) as { ok: boolean; message?: string; status?: unknown };
}
