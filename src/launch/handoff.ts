import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatFdBundle, formatFdRefusal } from '../protocol/fdpass.js';
import { SockactError } from '../protocol/errors.js';
import { HANDOFF_ENV } from '../protocol/handoff.js';
import { POLLERR, POLLNVAL } from '../sys/constants.js';
import { closeFd } from '../sys/fd.js';
import { chownFd, closePath, openNoFollow } from '../sys/file.js';
import { pollLoop } from '../sys/loop.js';
import { processStat } from '../sys/proc.js';
import { sendmsg } from '../sys/msg.js';
import type { SysError } from '../sys/errors.js';
import { accept, bind, listenSocket, peerCredentials, socket } from '../sys/socket.js';
import { acceptFailure, RETRY_SCARCE_MS } from './accept-errors.js';

export interface HandoffOptions {
  /** The sockets, in fd order, and their names. */
  fds: readonly number[];
  names: readonly string[];
  /** The pid of the program sockact started; only its descendants get the sockets. */
  root: () => number | undefined;
  /** The uid the program runs as (--user); the directory and socket are given to it. */
  uid?: number;
  gid?: number;
  /**
   * Called once if the hand-off stops serving on its own (its socket failed, poll() failed): it
   * has closed everything by then. Without it the failure is dropped: never a rejection nobody
   * handles.
   */
  onError?: (err: Error) => void;
}

export interface Handoff {
  /** The socket path, for SOCKACT_FDS_SOCKET. */
  path: string;
  env: Record<string, string>;
  close(): void;
}

/** Whether `pid` is `root` or one of its descendants. */
export function isDescendant(pid: number, root: number): boolean {
  for (
    let p: number | undefined = pid, hops = 0;
    p !== undefined && p > 1 && hops < 64;
    p = processStat(p)?.ppid, hops++
  ) {
    if (p === root) return true;
  }
  return false;
}

/**
 * Where the private directory goes. For the program's own user: its XDG_RUNTIME_DIR, else the
 * temporary directory. For another user (--user): that user's /run/user/UID when it is theirs,
 * else /tmp; never sockact's own XDG_RUNTIME_DIR or TMPDIR, which that user may not enter.
 */
function baseFor(uid: number | undefined): string {
  if (uid === undefined || uid === process.geteuid!()) return process.env.XDG_RUNTIME_DIR || tmpdir();
  const own = `/run/user/${uid}`;
  try {
    const { fd, stat } = openNoFollow(own, true);
    closePath(fd);
    if (stat.uid === uid && (stat.mode & 0o077) === 0) return own;
  } catch {
    // No runtime directory for that user (no login session): /tmp, sticky, lets them through.
  }
  return '/tmp';
}

/** chown the inode at `path` through an O_PATH fd: never through a symlink. */
function giveTo(path: string, uid: number, gid: number): void {
  const { fd } = openNoFollow(path);
  try {
    chownFd(fd, uid, gid, `chown ${path}`);
  } finally {
    closePath(fd);
  }
}

/**
 * Offer the sockets as one fd bundle (protocol/fdpass.ts) over a private SOCK_SEQPACKET socket to
 * descendants of the program, for `sockact --wrapper`. The socket lives in a fresh 0700 directory, owned by the
 * program's user; a peer is served only when SO_PEERCRED names one of the program's descendants
 * running as the program's user (or root). The socket is a watch on the process's one poll loop
 * (sys/loop.ts); a failure reaches `onError`, never an unhandled rejection.
 */
export function serveHandoff(opts: HandoffOptions): Handoff {
  const { dir, path, listener } = openHandoffSocket(opts.uid, opts.gid);
  const uid = opts.uid ?? process.getuid!();
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(retry);
    // Unwatch first: the loop's parked poll() must not see the fd number once it is reused.
    watch.close();
    closeFd(listener);
    rmSync(dir, { recursive: true, force: true });
  };

  const fail = (err: unknown) => {
    if (closed) return;
    close();
    opts.onError?.(err instanceof Error ? err : new SockactError('ERR_HANDOFF', String(err), { cause: err }));
  };

  const onReady = (revents: number) => {
    if (revents & (POLLERR | POLLNVAL)) {
      return fail(
        new SockactError('ERR_HANDOFF', `the hand-off socket ${path} failed (poll revents 0x${revents.toString(16)})`),
      );
    }
    let conn: number;
    try {
      conn = accept(listener).fd;
    } catch (err) {
      const kind = acceptFailure((err as SysError).code);
      if (kind === 'transient') return; // the peer went away between poll and accept
      if (kind === 'scarce') {
        // Out of fds or memory for a moment: stop polling (level-triggered, it would spin) and retry.
        watch.pause();
        retry = setTimeout(() => watch.resume(), RETRY_SCARCE_MS);
        return;
      }
      return fail(err);
    }
    try {
      answer(conn, opts, uid);
    } catch {
      // A peer that hangs up mid-answer loses only its own answer.
    } finally {
      closeFd(conn);
    }
  };
  const watch = pollLoop().watch(listener, onReady, undefined, fail);

  return { path, env: { [HANDOFF_ENV]: path }, close };
}

interface HandoffSocket {
  /** The private directory, the socket's path in it, and the listening fd. */
  dir: string;
  path: string;
  listener: number;
}

/** The listening SOCK_SEQPACKET socket in a fresh private directory, both given to `uid` if set. */
function openHandoffSocket(uid: number | undefined, gid: number | undefined): HandoffSocket {
  // mkdtemp makes it 0700: only its owner enters, and it is given to the program's user last.
  const dir = mkdtempSync(join(baseFor(uid), 'sockact-'));
  const path = join(dir, 'fds.sock');
  let listener = -1;
  try {
    listener = socket('unix', 'seqpacket');
    bind(listener, { family: 'unix', path });
    listenSocket(listener, 64);
    if (uid !== undefined) {
      // The socket first, while the directory is still sockact's alone (nothing can be swapped
      // in), then the directory, so the program's user can enter it and nobody else can.
      giveTo(path, uid, gid ?? -1);
      giveTo(dir, uid, gid ?? -1);
    }
  } catch (err) {
    if (listener >= 0) closeFd(listener);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, path, listener };
}

/** The bundle for a peer that is the program or one of its descendants, running as `uid` or root; else a refusal. */
function answer(conn: number, opts: HandoffOptions, uid: number): void {
  const peer = peerCredentials(conn);
  const root = opts.root();
  if (peer.uid !== uid && peer.uid !== 0) {
    sendmsg(conn, formatFdRefusal(`uid ${peer.uid} is not the program's user (${uid})`));
  } else if (root === undefined || !isDescendant(peer.pid, root)) {
    const who = `pid ${peer.pid} is not the program (pid ${root ?? 'not started'})`;
    sendmsg(conn, formatFdRefusal(`${who} or one of its descendants`));
  } else {
    for (const m of formatFdBundle(opts.fds, opts.names)) sendmsg(conn, m.data, { fds: m.fds });
  }
}
