import { O_CLOEXEC, O_NONBLOCK, POLLIN } from './constants.js';
import { closeFd, pipe, readFd, writeFd } from './fd.js';
import { pollAsync, type PollResult } from './poll.js';

/** A fd the loop waits on; `close()` stops watching (the fd itself stays open: its owner closes it). */
export interface Watch {
  readonly fd: number;
  /** Stop waiting on the fd for now (accept mode at its cap); `resume()` waits again. */
  pause(): void;
  resume(): void;
  close(): void;
}

interface Entry {
  fd: number;
  events: number;
  onReady: (revents: number) => void;
  onError: ((err: unknown) => void) | undefined;
  active: boolean;
  closed: boolean;
}

/**
 * One poll(2) loop for every fd the launcher and the supervisor wait on: listening sockets in
 * accept mode, the hand-off socket, notify sockets of children, the control socket (as systemd's
 * sd-event owns one epoll with many sources). Exactly one poll() is parked on libuv's threadpool
 * while anything is watched, and none while nothing is: an idle loop costs no thread, no timer
 * and no CPU, and does not keep the process alive. A byte on a private pipe ends the parked
 * poll() when the set changes.
 *
 * Polling is level-triggered: a callback must consume what made its fd ready (accept, recvmsg
 * until EAGAIN) or pause its watch, or it is called again at once.
 */
export class PollLoop {
  readonly #entries = new Set<Entry>();
  #wake: [number, number] | undefined;
  #parked = false;
  #woken = false;
  #failure: ((err: unknown) => void) | undefined;
  #polls = 0;

  /** Called when poll() itself fails for a reason other than EINTR (never expected). */
  onError(handler: (err: unknown) => void): void {
    this.#failure = handler;
  }

  /**
   * Call `onReady(revents)` whenever `fd` has one of `events` (POLLIN by default). When poll()
   * itself fails for good (EINVAL: more fds than RLIMIT_NOFILE; ENOMEM), every watch it was
   * waiting on is closed and its `onError` called, so each owner hears of it and none is left
   * waiting in silence (the loop-wide onError handler is called too).
   */
  watch(fd: number, onReady: (revents: number) => void, events = POLLIN, onError?: (err: unknown) => void): Watch {
    const entry: Entry = { fd, events, onReady, onError, active: true, closed: false };
    this.#entries.add(entry);
    this.#changed();
    return {
      fd,
      pause: () => {
        if (!entry.active || entry.closed) return;
        entry.active = false;
        this.#changed();
      },
      resume: () => {
        if (entry.active || entry.closed) return;
        entry.active = true;
        this.#changed();
      },
      close: () => {
        if (entry.closed) return;
        entry.closed = true;
        entry.active = false;
        this.#entries.delete(entry);
        this.#changed();
      },
    };
  }

  /** How many poll() calls the loop has made: flat while nothing happens (tests, the idle bench). */
  get polls(): number {
    return this.#polls;
  }

  /** How many fds are watched now (paused ones included). */
  get size(): number {
    return this.#entries.size;
  }

  #changed(): void {
    if (this.#parked) {
      if (!this.#woken && this.#wake) {
        this.#woken = true;
        writeFd(this.#wake[1], WAKE_BYTE);
      }
      return;
    }
    // Start on the next tick, so a burst of watch() calls parks one poll(), not one each.
    this.#parked = true;
    queueMicrotask(() => this.#cycle());
  }

  #cycle(): void {
    const active = [...this.#entries].filter((e) => e.active);
    if (active.length === 0) {
      // Nothing to wait on: no parked call, and the wake pipe goes too (no fd kept while idle).
      this.#parked = false;
      if (this.#wake) {
        closeFd(this.#wake[0]);
        closeFd(this.#wake[1]);
        this.#wake = undefined;
      }
      this.#woken = false;
      return;
    }
    this.#wake ??= pipe(O_CLOEXEC | O_NONBLOCK);
    const wakeFd = this.#wake[0];
    // Each fd is polled for its own events only: with one mask for all, a fd watched for
    // POLLOUT alone that is readable would end every poll() at once, and the loop would spin.
    this.#polls++;
    pollAsync([wakeFd, ...active.map((e) => e.fd)], -1, [POLLIN, ...active.map((e) => e.events)]).then(
      (ready) => this.#dispatch(active, ready, wakeFd),
      (err: unknown) => {
        // EINTR: a signal reached the pool thread; nothing happened to the fds.
        if ((err as { code?: string }).code === 'EINTR') return this.#dispatch(active, [], wakeFd);
        this.#fail(active, err, wakeFd);
      },
    );
  }

  /** poll() failed for good: the watches it waited on end, each owner is told, the rest go on. */
  #fail(polled: Entry[], err: unknown, wakeFd: number): void {
    const failed = polled.filter((e) => !e.closed);
    for (const e of failed) {
      e.closed = true;
      e.active = false;
      this.#entries.delete(e);
    }
    for (const e of failed) e.onError?.(err);
    this.#failure?.(err);
    // Watches added meanwhile are waited on still (or the idle loop lets its wake pipe go).
    this.#dispatch([], [], wakeFd);
  }

  #dispatch(polled: Entry[], ready: PollResult[], wakeFd: number): void {
    this.#parked = false;
    if (this.#woken) {
      // #changed() writes one byte per parked poll(), before poll() can end: one read takes it.
      // Reading on to EAGAIN would build an error (and Node's whole errno map) every cycle:
      // garbage that, over thousands of reloads, made V8 grow its young generation.
      try {
        readFd(wakeFd, wakeDrain);
      } catch {
        // never expected: the byte was written before poll() could end
      }
      this.#woken = false;
    }
    const byFd = new Map(polled.map((e) => [e.fd, e]));
    for (const r of ready) {
      const e = byFd.get(r.fd);
      // Skip a watch closed or paused while poll() was parked: its fd may already be another's.
      if (!e?.active || e.closed) continue;
      const revents = r.revents & (e.events | ~POLLIN_LIKE);
      if (revents) e.onReady(revents);
    }
    if (!this.#parked) {
      this.#parked = true;
      queueMicrotask(() => this.#cycle());
    }
  }
}

/** The byte that ends a parked poll(): one buffer for the life of the process. */
const WAKE_BYTE = Buffer.alloc(1, 1);
const wakeDrain = Buffer.alloc(64);

/** POLLIN, POLLPRI, POLLOUT: the bits a watch asks for; everything else (ERR, HUP, NVAL) always passes. */
const POLLIN_LIKE = 0x1 | 0x2 | 0x4;

let shared: PollLoop | undefined;

/** The process's one poll loop. */
export function pollLoop(): PollLoop {
  shared ??= new PollLoop();
  return shared;
}
