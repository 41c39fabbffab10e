import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHandoffError, formatHandoffHeader, HANDOFF_ENV, SCM_MAX_FD } from '../protocol/handoff.js';
import { O_CLOEXEC, O_NONBLOCK } from '../sys/constants.js';
import { closeFd, pipe, writeFd } from '../sys/fd.js';
import { sendmsg } from '../sys/msg.js';
import { pollAsync } from '../sys/poll.js';
import type { SysError } from '../sys/errors.js';
import { accept, bind, listenSocket, peerCredentials, socket } from '../sys/socket.js';

export interface HandoffOptions {
  /** The sockets, in fd order, and their names. */
  fds: readonly number[];
  names: readonly string[];
  /** The pid of the program sockact started; only its descendants get the sockets. */
  root: () => number | undefined;
  /** The uid the program runs as (--user); the directory and socket are given to it. */
  uid?: number;
  gid?: number;
}

export interface Handoff {
  /** The socket path, for SOCKACT_FDS_SOCKET. */
  path: string;
  env: Record<string, string>;
  close(): void;
}

/** The parent pid of `pid`, from /proc (field 4, after the parenthesised command name). */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Whether `pid` is `root` or one of its descendants. */
export function isDescendant(pid: number, root: number): boolean {
  for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < 64; p = parentOf(p), hops++) {
    if (p === root) return true;
  }
  return false;
}

/**
 * Offer the sockets over a private SOCK_SEQPACKET socket (protocol/handoff.ts) to descendants of
 * the program, for `sockact --wrapper`. The socket lives in a fresh 0700 directory, owned by the
 * program's user; a peer is served only when SO_PEERCRED names one of the program's descendants
 * running as the program's user (or root). One poll() on the threadpool waits for every request.
 */
export function serveHandoff(opts: HandoffOptions): Handoff {
  const base = process.env.XDG_RUNTIME_DIR || tmpdir();
  const dir = mkdtempSync(join(base, 'sockact-'));
  const path = join(dir, 'fds.sock');
  let listener = -1;
  let wake: [number, number];
  try {
    listener = socket('unix', 'seqpacket');
    bind(listener, { family: 'unix', path });
    listenSocket(listener, 64);
    if (opts.uid !== undefined) {
      chownSync(dir, opts.uid, opts.gid ?? -1);
      chownSync(path, opts.uid, opts.gid ?? -1);
    }
    wake = pipe(O_CLOEXEC | O_NONBLOCK);
  } catch (err) {
    if (listener >= 0) closeFd(listener);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const [wakeRead, wakeWrite] = wake;
  const uid = opts.uid ?? process.getuid!();
  let closed = false;

  const answer = (conn: number) => {
    const peer = peerCredentials(conn);
    const root = opts.root();
    if (peer.uid !== uid && peer.uid !== 0) {
      sendmsg(conn, formatHandoffError(`uid ${peer.uid} is not the program's user (${uid})`));
    } else if (root === undefined || !isDescendant(peer.pid, root)) {
      sendmsg(conn, formatHandoffError(`pid ${peer.pid} is not the program (pid ${root ?? 'not started'}) or one of its descendants`));
    } else {
      sendmsg(conn, formatHandoffHeader(opts.names));
      for (let i = 0; i < opts.fds.length; i += SCM_MAX_FD) {
        sendmsg(conn, Buffer.from('F'), { fds: opts.fds.slice(i, i + SCM_MAX_FD) });
      }
    }
  };

  const loop = async () => {
    while (!closed) {
      let ready;
      try {
        ready = await pollAsync([listener, wakeRead], -1);
      } catch (err) {
        // A signal handled on the pool thread interrupts poll(); nothing happened to the socket.
        if ((err as SysError).code === 'EINTR') continue;
        throw err;
      }
      if (closed || ready.some((r) => r.fd === wakeRead)) break;
      let conn: number;
      try {
        conn = accept(listener).fd;
      } catch {
        continue; // the peer went away between poll and accept
      }
      try {
        answer(conn);
      } catch {
        // A peer that hangs up mid-answer loses only its own answer.
      } finally {
        closeFd(conn);
      }
    }
    closeFd(listener);
    closeFd(wakeRead);
  };
  void loop();

  return {
    path,
    env: { [HANDOFF_ENV]: path },
    close() {
      if (closed) return;
      closed = true;
      writeFd(wakeWrite, Buffer.from('x'));
      closeFd(wakeWrite);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
