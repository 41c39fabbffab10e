import type {
  ChildEvents,
  ChildHandle,
  Clock,
  ExitStatus,
  ProcessSeam,
  SpawnRequest,
  Timer,
  Upstream,
} from '../../src/supervise/seam.js';

/** Virtual time: timers run only when the test advances the clock. */
export class FakeClock implements Clock {
  t = 0;
  #timers: { at: number; fn: () => void; seq: number; live: boolean }[] = [];
  #seq = 0;

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const timer = { at: this.t + ms, fn, seq: this.#seq++, live: true };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.live = false;
      },
    };
  }

  /** Timers still pending (for "costs nothing while idle"). */
  get pending(): number {
    return this.#timers.filter((t) => t.live).length;
  }

  /** Move time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      due.live = false;
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    this.#timers = this.#timers.filter((t) => t.live);
  }
}

/** A scripted child: the test says when it notifies and how it exits. */
export class FakeChild implements ChildHandle {
  signals: string[] = [];
  /** When each signal came (with a clock given to the seam). */
  signalled: { signal: string; at: number }[] = [];
  gone = false;
  /** The child itself has ended; what it started still runs in its process group (see leave()). */
  left = false;
  isAccepting = false;
  /** What the child does when it gets a signal; by default it exits as killed by it. */
  onSignal: (signal: string) => void = (signal) => this.exit({ code: null, signal });

  constructor(
    readonly pid: number,
    readonly request: SpawnRequest,
    readonly events: ChildEvents,
    readonly clock?: Clock,
  ) {}

  kill(signal: string): void {
    if (this.gone) return;
    this.signals.push(signal);
    this.signalled.push({ signal, at: this.clock?.now() ?? 0 });
    if (signal === 'SIGKILL') return this.exit(this.#leftWith ?? { code: null, signal });
    // What is left in the group drains by itself (see leave()).
    if (!this.left) this.onSignal(signal);
  }

  #leftWith: ExitStatus | undefined;

  /**
   * The child exits with `status` but leaves a helper in its process group, as RealSeam reports
   * it: gone() now, exit() once the group is empty, `lingerMs` later (or at SIGKILL).
   */
  leave(status: ExitStatus, lingerMs: number): void {
    if (this.gone || this.left || !this.clock) return;
    this.left = true;
    this.#leftWith = status;
    this.events.gone?.(status);
    this.clock.setTimer(lingerMs, () => this.exit(status));
  }

  accepting(): boolean {
    return this.isAccepting;
  }

  notify(text: string): void {
    const m = new Map<string, string>();
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
    }
    this.events.notify(m);
  }

  ready(): void {
    this.notify('READY=1');
  }

  exit(status: ExitStatus): void {
    if (this.gone) return;
    this.gone = true;
    this.events.exit(status);
  }
}

export class FakeSeam implements ProcessSeam {
  children: FakeChild[] = [];
  #pid = 100;
  /** Called for each new child, to script it (e.g. fail at start). */
  onSpawn: (c: FakeChild) => void = () => {};

  /** With a clock, children note when each signal came and may leave a process group behind. */
  constructor(readonly clock?: Clock) {}

  spawn(request: SpawnRequest, events: ChildEvents): FakeChild {
    const c = new FakeChild(this.#pid++, request, events, this.clock);
    this.children.push(c);
    this.onSpawn(c);
    return c;
  }

  get alive(): FakeChild[] {
    return this.children.filter((c) => !c.gone);
  }

  last(): FakeChild {
    return this.children[this.children.length - 1]!;
  }
}

export class FakeUpstream implements Upstream {
  sent: Record<string, string>[] = [];
  send(fields: Readonly<Record<string, string>>): void {
    this.sent.push({ ...fields });
  }
  /** The keys of each datagram, in order: "READY", "RELOADING", ... */
  get kinds(): string[] {
    return this.sent.map(
      (m) => ['READY', 'RELOADING', 'STOPPING', 'WATCHDOG'].filter((k) => k in m).join('+') || 'STATUS',
    );
  }
}

/** Let promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
