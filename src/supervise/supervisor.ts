import { formatDuration } from '../protocol/duration.js';
import type { ChildHandle, Clock, ExitStatus, ProcessSeam, Timer, Upstream } from './seam.js';

export type RestartPolicy = 'no' | 'on-failure' | 'always';
/** `auto`, `notify`, or a number: ready once alive for that many ms. */
export type Readiness = 'auto' | 'notify' | number;

export interface SupervisorOptions {
  workers: number;
  restart: RestartPolicy;
  restartDelay: number;
  restartDelayMax: number;
  startLimitBurst: number;
  startLimitInterval: number;
  ready: Readiness;
  readyTimeout: number;
  stopSignal: string;
  stopTimeout: number;
  /** Pass this signal to the children on reload instead of starting a new generation. */
  reloadSignal?: string;
  /** Replace workers one at a time on reload (at most N+1 processes) instead of all at once. */
  rolling: boolean;
  /**
   * WATCHDOG_USEC for the children, in ms: a child that stops pinging is restarted. Each child also
   * gets its own pid in WATCHDOG_PID (spawnActivated's trampoline, docs/protocol.md 25).
   */
  watchdog?: number;
  /** systemd's own WATCHDOG_USEC for sockact, in ms: pinged at half of it while children are healthy. */
  upstreamWatchdog?: number;
  /** How lifecycle lines name the program ("node server.js"). */
  command?: string;
}

/** The defaults, named once: --help and docs/launcher.md print these. */
export const DEFAULTS = {
  workers: 1,
  restart: 'no',
  restartDelay: 100,
  restartDelayMax: 10_000,
  startLimitBurst: 5,
  startLimitInterval: 10_000,
  ready: 'auto',
  readyTimeout: 90_000,
  stopSignal: 'SIGTERM',
  stopTimeout: 30_000,
  rolling: false,
} as const satisfies Partial<SupervisorOptions>;

/**
 * 0 switches a timeout or the watchdog off, as in systemd.service(5): TimeoutStartSec=0 and
 * TimeoutStopSec=0 are infinity (load-fragment.c, config_parse_sec_fix_0), and a WatchdogSec= of
 * 0 or infinity starts no watchdog (service.c, service_start_watchdog). A timeout of Infinity is
 * a timer that never fires; no watchdog means no WATCHDOG_USEC for the children either.
 */
function offMeansNoLimit(o: SupervisorOptions): SupervisorOptions {
  const out = { ...o };
  if (out.readyTimeout === 0) out.readyTimeout = Infinity;
  if (out.stopTimeout === 0) out.stopTimeout = Infinity;
  if (out.watchdog === 0 || out.watchdog === Infinity) delete out.watchdog;
  return out;
}

/** With readiness `auto`: how often to look whether a starting child accepts, and when to stop looking. */
export const AUTO_PROBE_MS = 25;
export const AUTO_FALLBACK_MS = 3000;
/**
 * The same stop request twice within this many ms is one request delivered twice, not a second
 * Ctrl-C: a terminal signals its whole foreground process group, and a parent such as npm
 * (@npmcli/run-script) or a shell script's trap passes the same signal on to sockact as well.
 * A person pressing Ctrl-C again takes longer than this.
 */
export const REPEATED_STOP_MS = 150;

export type WorkerState = 'starting' | 'ready' | 'stopping' | 'exited';

/** One child process: tableflip's child, with `ready` and `exited` promises. */
export class Worker {
  state: WorkerState = 'starting';
  pid: number | undefined;
  readonly startedAt: number;
  readyAt: number | undefined;
  exit: ExitStatus | undefined;
  status: string | undefined;
  errno: number | undefined;
  mainPid: number | undefined;
  /** Sent RELOADING=1 and not READY=1 since (a program that reloads itself). */
  reloading = false;
  /** The ready timeout ran out, or its watchdog did: why it was stopped. */
  failure: string | undefined;
  seenAccepting = false;
  handle: ChildHandle | undefined;
  readonly ready: Promise<void>;
  readonly exited: Promise<ExitStatus>;
  resolveReady!: () => void;
  resolveExited!: (s: ExitStatus) => void;
  timers = new Map<'ready' | 'probe' | 'kill' | 'watchdog', Timer>();
  watchdogMs: number | undefined;
  /** When the ready timeout (starting) or the stop timeout (stopping) runs out. */
  limitAt: number | undefined;

  constructor(
    readonly generation: number,
    readonly index: number,
    now: number,
  ) {
    this.startedAt = now;
    this.ready = new Promise((r) => (this.resolveReady = r));
    // Nobody has to wait on these: they settle, never reject.
    this.exited = new Promise((r) => (this.resolveExited = r));
  }

  clearTimer(name: 'ready' | 'probe' | 'kill' | 'watchdog'): void {
    this.timers.get(name)?.cancel();
    this.timers.delete(name);
  }

  clearTimers(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }
}

export type Phase = 'starting' | 'running' | 'stopping' | 'stopped';

export interface ReloadOutcome {
  ok: boolean;
  /** One line: "generation 3 ready in 94 ms" or why it failed. */
  message: string;
  generation: number;
}

/** How the supervisor ended: the CLI turns it into an exit status. */
export interface Ending {
  /** Exit like this child did (a plain launch), or with `code`. */
  status: ExitStatus;
  /** Set when sockact gave up (crash loop, never ready): the line to print. */
  reason?: string;
}

export interface StatusReport {
  pid: number;
  phase: Phase;
  uptimeMs: number;
  generation: number;
  reloads: number;
  failedReloads: number;
  restarts: number;
  /** Workers waiting for their restart delay. */
  restartsPending: number;
  reloading: boolean;
  workers: {
    index: number;
    generation: number;
    pid: number | undefined;
    state: WorkerState;
    uptimeMs: number;
    readyInMs: number | undefined;
    status: string | undefined;
    role: 'serving' | 'candidate' | 'retiring';
  }[];
}

interface PendingReload {
  generation: number;
  startedAt: number;
  candidates: (Worker | undefined)[];
  /** Rolling: the slot being replaced now. */
  step: number;
  waiters: ((o: ReloadOutcome) => void)[];
  failed: boolean;
}

export function describeStatus(s: ExitStatus): string {
  if (s.startFailure !== undefined) return `could not start: ${s.startFailure}`;
  return s.signal ? `killed by ${s.signal}` : `exited with code ${s.code ?? 0}`;
}

/**
 * `: its last words were "..."`, the last line a child said on stderr (at most 200 characters, as
 * JSON so that control characters show), to end a message about why it failed; '' when it said none.
 */
export function lastWords(s: ExitStatus): string {
  return s.lastLine ? `: its last words were ${JSON.stringify(s.lastLine.slice(0, 200))}` : '';
}

function failed(s: ExitStatus): boolean {
  return s.startFailure !== undefined || s.signal !== null || (s.code ?? 0) !== 0;
}

/**
 * The supervisor: sockact's children come and go while it holds the sockets. A state machine
 * over an injected clock and process seam, so every transition is tested with virtual time.
 *
 * - Start: N workers (generation 1); ready when each is (READY=1, seen accepting, or a delay).
 * - Reload: a new generation starts on the same sockets; only when it is ready is the old one
 *   stopped (stop signal, then SIGKILL after the stop timeout). A new generation that exits or
 *   is not ready in time is stopped and the old one keeps serving. Reloads asked for meanwhile
 *   coalesce into one more.
 * - Restart: a worker that ends on its own is restarted by policy, after a delay that doubles,
 *   until the start limit (burst within interval) is hit: then sockact gives up.
 * - Stop: every child gets the stop signal, SIGKILL after the timeout; a second stop kills now
 *   (the same signal again within REPEATED_STOP_MS is the first one delivered twice).
 */
export class Supervisor {
  readonly opts: SupervisorOptions;
  phase: Phase = 'starting';
  /** The serving worker of each slot (undefined while it waits to be restarted). */
  readonly slots: (Worker | undefined)[];
  readonly retiring = new Set<Worker>();
  generation = 0;
  reloads = 0;
  failedReloads = 0;
  restarts = 0;
  readonly startedAt: number;
  /** A child has spoken sd_notify: from now on readiness `auto` waits for READY=1. */
  notifying = false;
  readonly done: Promise<Ending>;

  #pending: PendingReload | undefined;
  #queued: ((o: ReloadOutcome) => void)[] | undefined;
  #restartTimers = new Map<number, Timer>();
  #failures = new Map<number, number>();
  #restartTimes: number[] = [];
  #lastExit: ExitStatus | undefined;
  #giveUp: string | undefined;
  #giveUpStatus: ExitStatus | undefined;
  #stopSignal: string | undefined;
  #stopAsked: { signal: string | undefined; at: number } | undefined;
  #resolveDone!: (e: Ending) => void;
  #upstreamTimer: Timer | undefined;
  #readyOnce = false;
  #serving = '[]';
  /** How it ends, decided while children were still running. */
  #ending: { ending: Ending; reason: string | undefined } | undefined;

  constructor(
    options: Partial<SupervisorOptions>,
    readonly seam: ProcessSeam,
    readonly clock: Clock,
    readonly log: (line: string) => void = () => {},
    readonly upstream?: Upstream,
  ) {
    this.opts = offMeansNoLimit({ ...DEFAULTS, ...options });
    this.slots = new Array<Worker | undefined>(this.opts.workers).fill(undefined);
    this.startedAt = clock.now();
    this.done = new Promise((r) => (this.#resolveDone = r));
  }

  /** Start generation 1. */
  start(): void {
    this.generation = 1;
    for (let i = 0; i < this.opts.workers; i++) this.slots[i] = this.#spawn(1, i);
    this.#scheduleUpstreamWatchdog();
  }

  get reloadInProgress(): boolean {
    return this.#pending !== undefined;
  }

  /** Every worker alive now: serving, starting for a reload, or on its way out. */
  get live(): Worker[] {
    const all = [...this.slots, ...(this.#pending?.candidates ?? []), ...this.retiring];
    return [...new Set(all)].filter((w): w is Worker => w !== undefined && w.state !== 'exited');
  }

  // ---- children ----

  #spawn(generation: number, index: number): Worker {
    const w = new Worker(generation, index, this.clock.now());
    const env: Record<string, string> = { SOCKACT_WORKER: String(index), SOCKACT_GENERATION: String(generation) };
    if (this.opts.watchdog !== undefined) env.WATCHDOG_USEC = String(Math.round(this.opts.watchdog * 1000));
    w.handle = this.seam.spawn(
      { generation, worker: index, env },
      {
        notify: (fields) => this.#onNotify(w, fields),
        gone: (status) => this.#onGone(w, status),
        exit: (status) => this.#onExit(w, status),
      },
    );
    w.pid = w.handle.pid;
    const which =
      generation > 1 || this.opts.workers > 1
        ? ` (${this.opts.workers > 1 ? `worker ${index}, ` : ''}generation ${generation})`
        : '';
    if (w.pid !== undefined) this.log(`started ${this.opts.command ?? 'the program'} as pid ${w.pid}${which}`);
    w.limitAt = w.startedAt + this.opts.readyTimeout;
    w.timers.set(
      'ready',
      this.clock.setTimer(this.opts.readyTimeout, () => this.#readyTimeout(w)),
    );
    this.#armReadiness(w);
    return w;
  }

  #armReadiness(w: Worker): void {
    const r = this.opts.ready;
    if (typeof r === 'number') {
      w.timers.set(
        'probe',
        this.clock.setTimer(r, () => this.#markReady(w, `alive for ${formatDuration(r)}`)),
      );
    } else if (r === 'auto' && !this.notifying) {
      this.#probe(w);
    }
  }

  /** Readiness `auto` for a program not known to notify: seen accepting, or alive long enough. */
  #probe(w: Worker): void {
    if (w.state !== 'starting' || this.notifying) return;
    if (w.handle?.accepting?.()) {
      w.seenAccepting = true;
      return this.#markReady(w, 'accepting');
    }
    if (this.clock.now() - w.startedAt >= AUTO_FALLBACK_MS)
      return this.#markReady(w, `alive for ${formatDuration(AUTO_FALLBACK_MS)}`);
    w.timers.set(
      'probe',
      this.clock.setTimer(AUTO_PROBE_MS, () => this.#probe(w)),
    );
  }

  /** "pid 812", "pid 812 (generation 3)", "pid 812 (worker 1, generation 3)". */
  #who(w: Worker): string {
    const which =
      w.generation > 1 || this.opts.workers > 1
        ? ` (${this.opts.workers > 1 ? `worker ${w.index}, ` : ''}generation ${w.generation})`
        : '';
    return `pid ${w.pid ?? '?'}${which}`;
  }

  #onNotify(w: Worker, fields: ReadonlyMap<string, string>): void {
    if (w.state === 'exited') return;
    if (!this.notifying) {
      this.notifying = true;
      // Workers started before we knew now wait for READY=1 instead of a guess.
      for (const x of this.live) if (x.state === 'starting' && this.opts.ready === 'auto') x.clearTimer('probe');
    }
    const status = fields.get('STATUS');
    if (status !== undefined) w.status = status;
    const errno = fields.get('ERRNO');
    if (errno !== undefined && /^\d+$/.test(errno)) w.errno = Number(errno);
    const mainPid = fields.get('MAINPID');
    if (mainPid !== undefined && /^\d+$/.test(mainPid)) w.mainPid = Number(mainPid);
    if (fields.get('RELOADING') === '1') w.reloading = true;
    const extend = fields.get('EXTEND_TIMEOUT_USEC');
    if (extend !== undefined && /^\d+$/.test(extend)) this.#extend(w, Number(extend) / 1000);
    const wdUsec = fields.get('WATCHDOG_USEC');
    if (wdUsec !== undefined && /^\d+$/.test(wdUsec) && Number(wdUsec) > 0) w.watchdogMs = Number(wdUsec) / 1000;
    const wd = fields.get('WATCHDOG');
    if (wd === 'trigger') return this.#watchdogExpired(w, 'asked for it (WATCHDOG=trigger)');
    if (wd === '1' || wdUsec !== undefined) this.#armWatchdog(w);
    if (fields.get('READY') === '1') {
      w.reloading = false;
      if (w.state === 'starting') this.#markReady(w, 'READY=1');
    }
    if (fields.get('STOPPING') === '1' && w.state === 'ready') this.log(`${this.#who(w)} is stopping on its own`);
  }

  /**
   * EXTEND_TIMEOUT_USEC: the ready or stop timeout runs out `ms` from now, if that is later; it is
   * never shortened (sd_notify(3): a timeout occurs only past the original TimeoutStartSec= or
   * TimeoutStopSec=).
   */
  #extend(w: Worker, ms: number): void {
    const which = w.state === 'starting' ? 'ready' : w.state === 'stopping' ? 'kill' : undefined;
    const now = this.clock.now();
    if (!which || w.limitAt === undefined || now + ms <= w.limitAt) return;
    w.limitAt = now + ms;
    w.clearTimer(which);
    w.timers.set(
      which,
      this.clock.setTimer(ms, which === 'ready' ? () => this.#readyTimeout(w) : () => w.handle?.kill('SIGKILL')),
    );
  }

  #armWatchdog(w: Worker): void {
    const ms = w.watchdogMs ?? this.opts.watchdog;
    if (ms === undefined || w.state === 'stopping' || w.state === 'exited') return;
    w.clearTimer('watchdog');
    w.timers.set(
      'watchdog',
      this.clock.setTimer(ms, () => this.#watchdogExpired(w, `sent no WATCHDOG=1 for ${formatDuration(ms)}`)),
    );
  }

  #watchdogExpired(w: Worker, why: string): void {
    if (w.state !== 'ready' && w.state !== 'starting') return;
    w.failure = `its watchdog ran out: it ${why}`;
    this.log(`${this.#who(w)} ${why}: stopping it with SIGABRT`);
    // systemd's WatchdogSignal= default; restarted below like any failed worker.
    this.#stopWorker(w, 'SIGABRT');
    this.#candidateFailed(w, why);
  }

  #markReady(w: Worker, how: string): void {
    if (w.state !== 'starting') return;
    w.state = 'ready';
    w.readyAt = this.clock.now();
    w.clearTimer('ready');
    w.clearTimer('probe');
    if (this.opts.watchdog !== undefined || w.watchdogMs !== undefined) this.#armWatchdog(w);
    w.resolveReady();
    const slot = this.slots[w.index];
    const isCandidate = this.#pending?.candidates[w.index] === w;
    if (slot === w && !isCandidate) {
      this.#advertise();
      this.log(`${this.#who(w)} ready in ${formatDuration(w.readyAt - w.startedAt)} (${how})`);
      if (this.phase === 'starting' && this.slots.every((s) => s?.state === 'ready')) this.#running();
      else this.#statusUpstream();
      return;
    }
    if (isCandidate) this.#candidateReady(w, how);
  }

  /** Tell the seam which workers serve now (ready, in a slot), when that changed; none once stopping. */
  #advertise(): void {
    const stopping = this.phase === 'stopping' || this.phase === 'stopped';
    const ready = stopping ? [] : this.slots.filter((w): w is Worker => w?.state === 'ready');
    const list = ready.map((w) => ({ generation: w.generation, worker: w.index }));
    const key = JSON.stringify(list);
    if (key === this.#serving) return;
    this.#serving = key;
    this.seam.serving?.(list);
  }

  #running(): void {
    this.phase = 'running';
    const first = !this.#readyOnce;
    this.#readyOnce = true;
    this.upstream?.send({ READY: '1', STATUS: this.#statusLine() });
    if (first) this.log(this.#statusLine());
    this.#runQueued();
  }

  #readyTimeout(w: Worker): void {
    if (w.state !== 'starting') return;
    w.failure = `it was not ready within ${formatDuration(this.opts.readyTimeout)}`;
    this.log(`${this.#who(w)} was not ready within ${formatDuration(this.opts.readyTimeout)}: stopping it`);
    this.#stopWorker(w, this.opts.stopSignal);
    this.#candidateFailed(w, w.failure.slice('it '.length));
  }

  /**
   * A candidate that will never serve fails its reload now, not once it has exited (which may take
   * the stop timeout): `sockact reload` gets its answer, and the old generation is known to stay.
   */
  #candidateFailed(w: Worker, why: string): void {
    const p = this.#pending;
    if (p && p.candidates[w.index] === w && !p.failed) this.#reloadFailed(`${this.#who(w)} ${why}`);
  }

  /**
   * The stop signal, then SIGKILL after the stop timeout. A child stopping already (a retiring
   * generation draining, a missed watchdog) keeps the time it was given: asking it again is not a
   * second stop.
   */
  #stopWorker(w: Worker, signal: string): void {
    if (w.state === 'exited' || w.state === 'stopping') return;
    w.state = 'stopping';
    w.clearTimer('ready');
    w.clearTimer('probe');
    w.clearTimer('watchdog');
    // The timer first: a child may be reported gone before kill() returns.
    w.limitAt = this.clock.now() + this.opts.stopTimeout;
    w.timers.set(
      'kill',
      this.clock.setTimer(this.opts.stopTimeout, () => {
        this.log(
          `${this.#who(w)} still running ${formatDuration(this.opts.stopTimeout)} after ${signal}: sending SIGKILL`,
        );
        w.handle?.kill('SIGKILL');
      }),
    );
    w.handle?.kill(signal);
  }

  /**
   * The child itself ended; what it left in its process group is being stopped by the seam, and
   * its exit follows once that is gone. It is never ready from now on, whatever its group holds:
   * a candidate fails its reload now, and the generation it would replace keeps serving.
   */
  #onGone(w: Worker, status: ExitStatus): void {
    if (w.state === 'exited' || w.state === 'stopping') return;
    const was = w.state;
    w.state = 'stopping';
    w.clearTimers();
    w.limitAt = undefined;
    this.#candidateFailed(w, `${describeStatus(status)}${was === 'starting' ? ' before it was ready' : ''}`);
  }

  #onExit(w: Worker, status: ExitStatus): void {
    if (w.state === 'exited') return;
    const was = w.state;
    w.state = 'exited';
    w.exit = status;
    w.clearTimers();
    w.resolveExited(status);
    this.#lastExit = status;
    this.retiring.delete(w);
    if (status.startFailure === undefined) {
      const line = `${this.#who(w)} ${describeStatus(status)}`;
      const candidate = this.#pending?.candidates[w.index] === w;
      this.log(was === 'starting' && candidate ? `${line} before it was ready` : line);
    }

    const p = this.#pending;
    if (p && p.candidates[w.index] === w) {
      p.candidates[w.index] = undefined;
      if (!p.failed)
        this.#reloadFailed(
          `${this.#who(w)} ${describeStatus(status)}` +
            `${was === 'starting' ? ' before it was ready' : ''}${w.failure ? `: ${w.failure}` : ''}`,
        );
      else this.#reloadSettled();
      return this.#checkStopped();
    }
    if (this.slots[w.index] !== w) return this.#checkStopped(); // a retired or replaced worker

    this.slots[w.index] = undefined;
    this.#advertise();
    if (this.phase === 'stopping') return this.#checkStopped();
    const unwanted = w.failure !== undefined || failed(status);
    const restart = this.opts.restart === 'always' || (this.opts.restart === 'on-failure' && unwanted);
    if (!restart) {
      if (
        this.opts.restart === 'no' &&
        (this.phase === 'starting' || unwanted) &&
        this.#pending === undefined &&
        this.opts.workers === 1
      ) {
        // A plain launch: sockact ends as its program did.
        return this.#finish({ status }, w.failure ? `${this.#who(w)} was stopped: ${w.failure}` : undefined);
      }
      if (this.slots.every((s) => s === undefined) && !this.#reloadMayServe()) return this.#finish({ status });
      return;
    }
    this.#scheduleRestart(w, status);
  }

  #scheduleRestart(w: Worker, status: ExitStatus): void {
    const now = this.clock.now();
    this.#restartTimes = this.#restartTimes.filter((t) => now - t < this.opts.startLimitInterval);
    this.#restartTimes.push(now);
    if (this.#restartTimes.length > this.opts.startLimitBurst) {
      this.#giveUpStatus = status;
      // The ending's reason: the CLI prints it once, as sockact ends.
      this.#giveUp =
        `giving up: ${this.#restartTimes.length} restarts within ${formatDuration(this.opts.startLimitInterval)}; ` +
        `the last one ${describeStatus(status)}${this.#cause(w, status)}`;
      return this.stop(this.opts.stopSignal, false);
    }
    const delay = this.#restartDelay(w, status);
    this.log(`restarting ${this.opts.workers > 1 ? `worker ${w.index}` : 'it'} in ${formatDuration(delay)}`);
    this.#restartTimers.set(
      w.index,
      this.clock.setTimer(delay, () => {
        this.#restartTimers.delete(w.index);
        if (this.phase === 'stopping' || this.phase === 'stopped' || this.slots[w.index] !== undefined) return;
        this.restarts++;
        this.slots[w.index] = this.#spawn(w.generation, w.index);
      }),
    );
  }

  /**
   * The delay doubles on each failure in a row (docs/supervisor-restart.md). A clean exit (code 0,
   * no missed watchdog or ready timeout) is not a failure: it restarts after --restart-delay and
   * starts the count again, as does a failure after the worker was ready for the start-limit
   * interval. systemd's RestartSteps= counts every automatic restart, clean or not (service.c,
   * service_restart_usec_next() over n_restarts); a worker that recycles itself would then be
   * held back as if it crashed, which is what this avoids.
   */
  #restartDelay(w: Worker, status: ExitStatus): number {
    const clean = w.failure === undefined && !failed(status);
    const stable = w.readyAt !== undefined && this.clock.now() - w.readyAt >= this.opts.startLimitInterval;
    const n = clean || stable ? 0 : (this.#failures.get(w.index) ?? 0);
    this.#failures.set(w.index, clean ? 0 : n + 1);
    return Math.min(this.opts.restartDelayMax, this.opts.restartDelay * 2 ** n);
  }

  /** What the supervisor can tell about why a child keeps failing. */
  #cause(w: Worker, status: ExitStatus): string {
    if (status.startFailure !== undefined) return '';
    if (status.lastLine && /EADDRINUSE|address already in use/i.test(status.lastLine)) {
      return (
        ': it bound the port itself and got EADDRINUSE; ' +
        'adopt the inherited socket instead (fd 3: listen() or sd_listen_fds())'
      );
    }
    if (w.failure) return `: ${w.failure}`;
    if (w.readyAt === undefined && !w.seenAccepting && !this.notifying) {
      return ': it never became ready and was never seen accepting on its sockets (does it adopt fd 3?)';
    }
    return lastWords(status);
  }

  // ---- reload ----

  /** Start a new generation (or pass --reload-signal); resolves when it is serving or has failed. */
  reload(): Promise<ReloadOutcome> {
    if (this.phase === 'stopping' || this.phase === 'stopped') {
      const message = 'reload refused: sockact is stopping';
      this.log(message);
      return Promise.resolve({ ok: false, message, generation: this.generation });
    }
    if (this.opts.reloadSignal !== undefined) return this.#signalReload(this.opts.reloadSignal);
    return new Promise((resolve) => {
      if (this.#pending || this.phase === 'starting') {
        // Coalesce: every request made meanwhile is answered by one more reload.
        this.#queued ??= [];
        this.#queued.push(resolve);
        return;
      }
      this.#beginReload([resolve]);
    });
  }

  async #signalReload(signal: string): Promise<ReloadOutcome> {
    this.upstream?.send({ RELOADING: '1', MONOTONIC_USEC: String(this.#monotonicUsec()) });
    const workers = this.slots.filter((w): w is Worker => w?.state === 'ready');
    for (const w of workers) w.handle?.kill(signal);
    this.log(`sent ${signal} to ${workers.map((w) => `pid ${w.pid}`).join(', ') || 'no worker'}`);
    this.reloads++;
    this.upstream?.send({ READY: '1', STATUS: this.#statusLine() });
    return {
      ok: true,
      message: `sent ${signal} to ${workers.length} worker${workers.length === 1 ? '' : 's'}`,
      generation: this.generation,
    };
  }

  #monotonicUsec(): bigint {
    return BigInt(Math.round(this.clock.now() * 1000));
  }

  #beginReload(waiters: ((o: ReloadOutcome) => void)[]): void {
    const generation = ++this.generation;
    this.upstream?.send({
      RELOADING: '1',
      MONOTONIC_USEC: String(this.#monotonicUsec()),
      STATUS: `reloading: starting generation ${generation}`,
    });
    this.log(`reloading: starting generation ${generation}`);
    const p: PendingReload = {
      generation,
      startedAt: this.clock.now(),
      candidates: [],
      step: 0,
      waiters,
      failed: false,
    };
    this.#pending = p;
    if (this.opts.rolling) p.candidates[0] = this.#spawn(generation, 0);
    else for (let i = 0; i < this.opts.workers && !p.failed; i++) p.candidates[i] = this.#spawn(generation, i);
  }

  /** A reload runs whose new generation is still starting or ready (not failed, not being stopped). */
  #reloadMayServe(): boolean {
    const p = this.#pending;
    return p !== undefined && !p.failed && p.candidates.some((c) => c?.state === 'starting' || c?.state === 'ready');
  }

  #candidateReady(w: Worker, how: string): void {
    const p = this.#pending!;
    if (p.failed) return;
    this.log(`${this.#who(w)} ready in ${formatDuration(w.readyAt! - w.startedAt)} (${how})`);
    if (this.opts.rolling) {
      this.#commitSlot(w);
      p.candidates[w.index] = undefined;
      p.step++;
      if (p.step < this.opts.workers) {
        p.candidates[p.step] = this.#spawn(p.generation, p.step);
        return;
      }
      return this.#reloadSucceeded();
    }
    if (!p.candidates.every((c) => c?.state === 'ready') || p.candidates.length < this.opts.workers) return;
    for (const c of p.candidates) this.#commitSlot(c!);
    p.candidates = [];
    this.#reloadSucceeded();
  }

  /** `w` takes over its slot; the worker it replaces is stopped. */
  #commitSlot(w: Worker): void {
    const old = this.slots[w.index];
    this.#restartTimers.get(w.index)?.cancel();
    this.#restartTimers.delete(w.index);
    this.slots[w.index] = w;
    this.#advertise();
    if (old && old.state !== 'exited') {
      this.retiring.add(old);
      this.log(`stopping ${this.#who(old)}`);
      this.#stopWorker(old, this.opts.stopSignal);
    }
  }

  #reloadSucceeded(): void {
    const p = this.#pending!;
    this.#pending = undefined;
    this.reloads++;
    const message = `generation ${p.generation} ready in ${formatDuration(this.clock.now() - p.startedAt)}`;
    this.log(`reloaded: ${message}`);
    this.upstream?.send({ READY: '1', STATUS: this.#statusLine() });
    for (const r of p.waiters) r({ ok: true, message, generation: p.generation });
    this.#runQueued();
  }

  #reloadFailed(reason: string): void {
    const p = this.#pending!;
    p.failed = true;
    this.failedReloads++;
    const message = `reload failed: ${reason}; ${this.#servingLine()} keeps serving`;
    this.log(message);
    this.upstream?.send({ READY: '1', STATUS: `${this.#statusLine()}; last reload failed` });
    for (const r of p.waiters) r({ ok: false, message, generation: p.generation });
    p.waiters = [];
    for (const c of p.candidates) if (c) this.#stopWorker(c, this.opts.stopSignal);
    this.#reloadSettled();
  }

  /** A failed reload is over once its candidates are gone; then a queued one may start. */
  #reloadSettled(): void {
    const p = this.#pending;
    if (!p?.failed) return;
    // Children that died while it ran may have left every slot empty (restart=no): nothing will
    // serve, so sockact ends (once the candidates are gone) rather than run on with nothing.
    const ending = this.phase === 'stopping' || this.phase === 'stopped';
    if (!ending && this.slots.every((s) => s === undefined) && this.#restartTimers.size === 0) {
      return this.#finish({ status: this.#lastExit ?? { code: 1, signal: null } });
    }
    if (p.candidates.some((c) => c !== undefined && c.state !== 'exited')) return;
    this.#pending = undefined;
    this.#runQueued();
  }

  #runQueued(): void {
    if (this.phase !== 'running' || this.#pending || !this.#queued) return;
    const waiters = this.#queued;
    this.#queued = undefined;
    this.#beginReload(waiters);
  }

  // ---- stop ----

  /**
   * Stop every child (with `signal`, the stop signal by default). A second stop from outside
   * kills them now, unless it is the same request arriving twice (REPEATED_STOP_MS); a stop
   * sockact decides on itself (`outside` false: it gave up, a takeover failed) never counts as one.
   */
  stop(signal?: string, outside = true): void {
    if (this.phase === 'stopped') return;
    const now = this.clock.now();
    const last = this.#stopAsked;
    if (outside) {
      this.#stopAsked = { signal, at: now };
      if (last && last.signal === signal && now - last.at < REPEATED_STOP_MS) return;
      if (last) return this.#killAll();
    }
    const again = this.phase === 'stopping';
    this.phase = 'stopping';
    this.#advertise();
    this.#stopSignal ??= signal ?? this.opts.stopSignal;
    if (!again) {
      this.upstream?.send({ STOPPING: '1', STATUS: 'stopping' });
      this.log(
        this.#giveUp
          ? 'stopping'
          : `stopping: sending ${this.#stopSignal} to ${this.live.length} child${this.live.length === 1 ? '' : 'ren'}`,
      );
    }
    for (const t of this.#restartTimers.values()) t.cancel();
    this.#restartTimers.clear();
    this.#upstreamTimer?.cancel();
    this.#cancelReloads();
    for (const w of this.live) this.#stopWorker(w, this.#stopSignal);
    this.#checkStopped();
  }

  /** Answer every reload asked for and not done: sockact is ending. */
  #cancelReloads(): void {
    const outcome: ReloadOutcome = {
      ok: false,
      message: 'reload cancelled: sockact is stopping',
      generation: this.generation,
    };
    for (const r of [...(this.#pending?.waiters ?? []), ...(this.#queued ?? [])]) r(outcome);
    if (this.#pending) {
      this.#pending.waiters = [];
      this.#pending.failed = true; // not a failed reload: a cancelled one
    }
    this.#queued = undefined;
  }

  /** A second stop from outside (a second Ctrl-C): no more waiting. */
  #killAll(): void {
    const live = this.live;
    const n = live.length;
    if (n > 0) this.log(`asked again: sending SIGKILL to ${n} child${n === 1 ? '' : 'ren'}`);
    for (const w of live) w.handle?.kill('SIGKILL');
  }

  #checkStopped(): void {
    if (this.phase !== 'stopping' || this.live.length > 0) return;
    if (this.#pending) this.#pending = undefined;
    if (this.#ending) return this.#finish(this.#ending.ending, this.#ending.reason);
    const status = this.#lastExit ?? { code: 0, signal: null };
    if (this.#giveUp) {
      const code = this.#giveUpStatus?.code;
      return this.#finish({ status: { code: code ? code : 1, signal: null } }, this.#giveUp);
    }
    // A plain launch ends as its program did; a supervisor that was asked to stop ends with 0.
    const plain = this.opts.restart === 'no' && this.opts.workers === 1;
    this.#finish({ status: plain ? status : { code: 0, signal: null } });
  }

  #finish(ending: Ending, reason?: string): void {
    if (this.phase === 'stopped') return;
    this.#cancelReloads();
    // Anything still running (a plain launch ended by its program) is stopped first; the last
    // one's exit ends the supervisor with this ending (#checkStopped).
    if (this.live.length > 0) {
      this.#ending ??= { ending, reason };
      this.phase = 'stopping';
      for (const w of this.live) this.#stopWorker(w, this.opts.stopSignal);
      return;
    }
    this.phase = 'stopped';
    this.#pending = undefined;
    this.#upstreamTimer?.cancel();
    for (const t of this.#restartTimers.values()) t.cancel();
    if (reason !== undefined) ending.reason = reason;
    this.#resolveDone(ending);
  }

  // ---- systemd above ----

  #scheduleUpstreamWatchdog(): void {
    const ms = this.opts.upstreamWatchdog;
    if (ms === undefined || !this.upstream) return;
    this.#upstreamTimer = this.clock.setTimer(ms / 2, () => {
      if (this.phase === 'stopped') return;
      // Ping only while the children are healthy: a hung or crash-looping service gets restarted by systemd.
      if (this.healthy()) this.upstream!.send({ WATCHDOG: '1' });
      this.#scheduleUpstreamWatchdog();
    });
  }

  /** Every slot has a ready worker. */
  healthy(): boolean {
    return this.slots.every((w) => w?.state === 'ready');
  }

  #servingLine(): string {
    const gens = [...new Set(this.slots.filter((w) => w).map((w) => w!.generation))];
    return gens.length ? `generation ${gens.join('+')}` : 'nothing';
  }

  #statusLine(): string {
    const ready = this.slots.filter((w) => w?.state === 'ready');
    if (this.opts.workers === 1) {
      const w = ready[0];
      return w ? `ready, generation ${w.generation} (pid ${w.pid})` : 'not ready';
    }
    return `${ready.length} of ${this.opts.workers} workers ready, ${this.#servingLine()}`;
  }

  #statusUpstream(): void {
    if (this.phase === 'running' && !this.#pending) this.upstream?.send({ STATUS: this.#statusLine() });
  }

  /** For `sockact status`. */
  report(pid: number): StatusReport {
    const now = this.clock.now();
    const p = this.#pending;
    const row = (w: Worker, role: 'serving' | 'candidate' | 'retiring') => ({
      index: w.index,
      generation: w.generation,
      pid: w.pid,
      state: w.state,
      uptimeMs: now - w.startedAt,
      readyInMs: w.readyAt !== undefined ? w.readyAt - w.startedAt : undefined,
      status: w.status,
      role,
    });
    return {
      pid,
      phase: this.phase,
      uptimeMs: now - this.startedAt,
      generation: this.generation,
      reloads: this.reloads,
      failedReloads: this.failedReloads,
      restarts: this.restarts,
      restartsPending: this.#restartTimers.size,
      reloading: p !== undefined,
      workers: [
        ...this.slots.filter((w): w is Worker => w !== undefined).map((w) => row(w, 'serving')),
        ...(p?.candidates ?? []).filter((w): w is Worker => w !== undefined).map((w) => row(w, 'candidate')),
        ...[...this.retiring].map((w) => row(w, 'retiring')),
      ],
    };
  }

  /** A line for status and systemd's STATUS=. */
  statusLine(): string {
    return this.#statusLine();
  }
}
