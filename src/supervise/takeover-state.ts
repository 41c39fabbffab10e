import { formatDuration } from '../protocol/duration.js';
import { SockactError } from '../protocol/errors.js';
import type { TakeoverOffer } from './control.js';
import type { Clock, ProcessSeam, Upstream } from './seam.js';
import { describeStatus, lastWords, type Ending, type Supervisor } from './supervisor.js';
import type { TakeoverSession } from './takeover.js';

/** The new sockact's side: taking over from `session`, until its children are ready (or not). */
export type TakeoverPhase = 'pending' | 'committed' | 'failed';

export interface TakeoverOptions {
  /** --takeover: the open session with the sockact this one replaces. */
  session?: TakeoverSession | undefined;
  /** Clock.now() on the same scale as session.startedAt (performance.now() for realClock). */
  clock: Clock;
  /** systemd's NOTIFY_SOCKET, when there is one: told MAINPID= when this sockact takes over. */
  systemd?: Upstream | undefined;
  /** Everyone else told what sockact tells its service manager (the --daemon parent). */
  others?: readonly Upstream[];
  /** The sockets this sockact could hand over (none with --inetd). */
  fds: readonly number[];
  names?: readonly string[] | undefined;
  /** The JSON line sent with the fds to a sockact taking over from this one. */
  offerMessage: () => string;
  /** Take the old sockact's control socket path (rename(2) over its file). */
  moveControl: (path: string) => void;
  log: (line: string) => void;
  warn: (line: string) => void;
}

/**
 * A takeover, both sides, as one small state machine (tableflip's Upgrader, over sockact's own
 * Clock and ProcessSeam). The new sockact is `pending` until the supervisor's first READY=1, then
 * `committed`: it takes the control socket's path, tells systemd the main pid is now its own and
 * tells the old one to retire; a child that ends first makes it `failed` (the old one serves on).
 * The old sockact, once told to retire, says nothing more upstream: STOPPING=1 would stop the
 * unit, which the new sockact now serves; a pending or failed new one says nothing either.
 */
export class Takeover {
  phase: TakeoverPhase | undefined;
  failure: string | undefined;
  /** The old side: a sockact took over and serves; this one stops as on `sockact stop`. */
  retiring = false;
  /** The old side: the pid taking over right now, if any. */
  takingOver: number | undefined;
  /** The fds handed to the sockact that took over: their socket files are its now. */
  readonly handedOver = new Set<number>();
  #sup: Supervisor | undefined;

  constructor(readonly o: TakeoverOptions) {
    this.phase = o.session ? 'pending' : undefined;
  }

  /** The supervisor this takeover stops and reads; set once, before it starts. */
  attach(sup: Supervisor): void {
    this.#sup = sup;
  }

  get #supervisor(): Supervisor {
    if (!this.#sup) throw new SockactError('ERR_INTERNAL', 'Takeover.attach() was not called');
    return this.#sup;
  }

  /** The takeover did not go through: what this sockact took belongs to the old one still. */
  get failed(): boolean {
    return this.phase === 'pending' || this.phase === 'failed';
  }

  /** Upstream as the supervisor sees it: silent while retiring or not committed, READY=1 commits. */
  upstream(): Upstream | undefined {
    const all = [this.o.systemd, ...(this.o.others ?? [])].filter((u) => u !== undefined);
    if (all.length === 0 && !this.o.session) return undefined;
    return {
      send: (fields) => {
        if (this.retiring || (this.phase !== undefined && this.phase !== 'committed')) {
          // commit() sends its own READY=1, with MAINPID=.
          if (this.phase === 'pending' && fields.READY === '1') void this.commit();
          return;
        }
        for (const u of all) u.send(fields);
      },
    };
  }

  /** `seam`, with a child that ends before all are ready failing a pending takeover at once. */
  seam(seam: ProcessSeam): ProcessSeam {
    if (!this.o.session) return seam;
    return {
      spawn: (req, events) =>
        seam.spawn(req, {
          notify: events.notify,
          gone: events.gone,
          exit: (status) => {
            const sup = this.#supervisor;
            // Once sockact is stopping (a signal), children end because they were told to.
            if (this.phase === 'pending' && sup.phase === 'starting') {
              const w = sup.slots[req.worker];
              const ready = w?.readyAt !== undefined ? '' : ' before it was ready';
              const why = w?.failure ? `: ${w.failure}` : lastWords(status);
              this.fail(`pid ${w?.pid ?? '?'} ${describeStatus(status)}${ready}${why}`);
            }
            events.exit(status);
          },
        }),
    };
  }

  /** pending -> failed: give the old sockact back its session and stop this one's children. */
  fail(reason: string): void {
    if (this.phase !== 'pending') return;
    this.phase = 'failed';
    this.failure = reason;
    this.o.session!.abandon();
    this.#supervisor.stop(undefined, false);
  }

  /**
   * pending -> committed, on the children's READY=1: take the control socket's path (so `sockact
   * status` always reaches one of the two), tell systemd the main pid is now this one (before
   * the old one can exit), then tell the old one to retire.
   */
  async commit(): Promise<void> {
    const t = this.o.session!;
    this.phase = 'committed';
    const readyIn = this.o.clock.now() - t.startedAt;
    try {
      this.o.moveControl(t.path);
    } catch (err) {
      this.o.warn(`can't move the control socket to ${t.path}: ${(err as Error).message}`);
    }
    this.o.systemd?.send({ MAINPID: String(process.pid), READY: '1', STATUS: this.#supervisor.statusLine() });
    this.o.log(`children ready ${formatDuration(readyIn)} after the takeover began: telling pid ${t.oldPid} to retire`);
    try {
      await t.retire();
    } catch (err) {
      this.o.warn(`${(err as Error).message}; serving anyway`);
      return;
    }
    const doneIn = () => formatDuration(this.o.clock.now() - t.startedAt);
    void t.closed.then(() => this.o.log(`pid ${t.oldPid} exited: takeover done in ${doneIn()}`));
  }

  /** The old side: what a sockact asking to take over gets, or why it is refused. */
  handover(peerPid: number): TakeoverOffer | string {
    const sup = this.#supervisor;
    if (this.retiring) return 'it is retiring already';
    if (sup.phase !== 'running') return `it is ${sup.phase}`;
    if (this.phase === 'pending') return 'it is taking over from another sockact itself';
    if (this.takingOver !== undefined) return `pid ${this.takingOver} is taking over already`;
    const fds = this.o.fds;
    if (fds.length === 0) return 'it holds no sockets to hand over (--inetd)';
    this.takingOver = peerPid;
    const n = `${fds.length} socket${fds.length === 1 ? '' : 's'}`;
    this.o.log(`pid ${peerPid} is taking over: handing it ${n}`);
    return {
      fds,
      names: this.o.names ?? fds.map(() => 'unknown'),
      message: this.o.offerMessage(),
      retire: (taken) => {
        this.retiring = true;
        for (const i of taken) this.handedOver.add(fds[i]!);
        this.o.log(`pid ${peerPid} took over ${taken.length} of ${n} and serves: retiring`);
        sup.stop();
      },
      abandoned: () => {
        this.takingOver = undefined;
        this.o.log(`pid ${peerPid} gave up taking over: serving on`);
      },
    };
  }

  /** How sockact ends, given how its supervisor ended. */
  ending(ending: Ending): Ending {
    // Retired: its children drained as on a stop, and that is a success whatever they exited with.
    if (this.retiring) return { status: { code: 0, signal: null } };
    if (this.failed) {
      const t = this.o.session!;
      t.abandon();
      const why = this.failure ?? 'sockact was stopped before its children were ready';
      return { status: { code: 1, signal: null }, reason: `takeover failed: ${why}; pid ${t.oldPid} keeps serving` };
    }
    return ending;
  }
}
