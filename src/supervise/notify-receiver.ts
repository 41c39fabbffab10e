import {
  fchmodSync,
  fchownSync,
  constants as fsc,
  lchownSync,
  mkdtempSync,
  openSync,
  closeSync,
  rmdirSync,
  rmSync,
  unlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NOTIFY_MAX_BYTES, parseNotifyMessage } from '../protocol/notify.js';
import { bind, closeFd, pollLoop, recvmsg, SOCK_NONBLOCK, socket, type Watch } from '../sys/index.js';

/** One message a child sent on its NOTIFY_SOCKET, checked as systemd checks it. */
export type NotifyHandler = (fields: ReadonlyMap<string, string>) => void;

/**
 * Notify sockets for children (sd_notify(3), receiving side, as systemd's manager does): one
 * AF_UNIX datagram socket per child, so sockact knows which child sent what, in a private 0700
 * directory made for this run (owned by the children's user when there is one, so they can reach
 * it and nobody else can). Every socket is waited on by the process's one poll loop.
 *
 * A datagram of more than 4096 bytes or with a NUL byte is dropped, as systemd drops it; fds
 * passed with a message (FDSTORE=1 to a supervisor that keeps no store) are closed at once.
 */
export class NotifyReceiver {
  readonly dir: string;
  #seq = 0;
  #closed = false;

  constructor(
    private readonly owner?: { uid: number; gid: number },
    private readonly warn: (line: string) => void = () => {},
  ) {
    const base = process.env.XDG_RUNTIME_DIR && !owner ? process.env.XDG_RUNTIME_DIR : tmpdir();
    this.dir = mkdtempSync(join(base, 'sockact-notify-')); // 0700
    // Only root can give the directory away; anyone else starts children as themselves (or fails to).
    if (owner && process.getuid?.() === 0 && owner.uid !== 0) {
      // By fd, never by path: the directory cannot be swapped between open and fchown.
      const fd = openSync(this.dir, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
      try {
        fchownSync(fd, owner.uid, owner.gid);
      } finally {
        closeSync(fd);
      }
    }
  }

  /** A new socket for one child: its NOTIFY_SOCKET path and a close() for when the child is gone. */
  open(onMessage: NotifyHandler, who: () => string): { path: string; close(): void } {
    const path = join(this.dir, `${++this.#seq}.sock`);
    const fd = socket('unix', 'dgram', SOCK_NONBLOCK);
    let watch: Watch | undefined;
    try {
      // The file gets this mode at bind (minus the umask): set on the socket before it has a name.
      fchmodSync(fd, 0o600);
      bind(fd, { family: 'unix', path });
      // lchown never follows a link, whatever the child's user has put in its directory.
      if (this.owner && process.getuid?.() === 0 && this.owner.uid !== 0)
        lchownSync(path, this.owner.uid, this.owner.gid);
    } catch (err) {
      closeFd(fd);
      throw err;
    }
    watch = pollLoop().watch(fd, () => {
      for (;;) {
        let m;
        try {
          m = recvmsg(fd, NOTIFY_MAX_BYTES + 1, 16);
        } catch (err) {
          this.warn(`can't read the notify socket of ${who()}: ${(err as Error).message}`);
          return;
        }
        if (!m) return;
        for (const passed of m.fds) closeFd(passed);
        if (m.truncated || m.data.length > NOTIFY_MAX_BYTES) {
          this.warn(`dropped a notify message from ${who()}: more than ${NOTIFY_MAX_BYTES} bytes`);
          continue;
        }
        if (m.data.includes(0)) {
          this.warn(`dropped a notify message from ${who()}: it contains a NUL byte`);
          continue;
        }
        onMessage(parseNotifyMessage(m.data));
      }
    });
    return {
      path,
      close: () => {
        if (!watch) return;
        watch.close();
        watch = undefined;
        closeFd(fd);
        try {
          unlinkSync(path);
        } catch {
          // gone already (the directory went with a stopping sockact)
        }
      },
    };
  }

  /** Remove the directory (after every child's socket was closed). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // Empty once every child's socket is closed: rmdir, without loading fs's recursive removal.
      rmdirSync(this.dir);
    } catch {
      // Not empty (a socket still open, something the children's user put there), or gone.
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
