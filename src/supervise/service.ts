import { constants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { SpawnActivatedOptions } from '../launch/spawn.js';
import { reap, zombieChildren } from '../sys/proc.js';
import { serveControl, type ControlServer } from './control.js';
import { NotifyReceiver } from './notify-receiver.js';
import { RealSeam, realClock, spawnedPids } from './real.js';
import type { Upstream } from './seam.js';
import { DEFAULTS, Supervisor, type Ending, type SupervisorOptions } from './supervisor.js';
import type { TakeoverSession } from './takeover.js';
import { Takeover } from './takeover-state.js';
import { systemdUpstream } from './upstream.js';
import { watchPaths, type Watcher } from './watch.js';

export interface ServiceOptions {
  /** The program and its sockets, as for a plain launch. */
  launch: SpawnActivatedOptions;
  supervisor: Partial<SupervisorOptions>;
  /** Prefix the children's output lines with "[generation.worker pid] ". */
  prefix?: boolean;
  watch?: readonly string[];
  watchDebounce?: number;
  /** Where the control socket goes; none when undefined. */
  controlPath?: string;
  /** --takeover: the open session with the sockact this one replaces once its children are ready. */
  takeover?: TakeoverSession;
  log: (line: string) => void;
  warn: (line: string) => void;
  /**
   * Also told what sockact tells its service manager (READY=1 once the first generation serves):
   * the pid file and --daemon's waiting parent (cli/daemon.ts).
   */
  upstream?: Upstream;
  /** Called after each child's end (RealSeamOptions.afterExit). */
  afterExit?: () => void;
}

export interface Service {
  readonly supervisor: Supervisor;
  readonly controlPath: string | undefined;
  /** Settles when every child is gone and sockact should end; resources are released by then. */
  readonly done: Promise<Ending>;
  /** The fds handed to a sockact that took over: their socket files are its now, never removed here. */
  readonly handedOver: ReadonlySet<number>;
  /** --takeover did not go through: the sockets taken belong to the old sockact still. */
  readonly takeoverFailed: boolean;
}

/**
 * Signals that end sockact's children (stop); the one received is passed on as the stop signal,
 * except SIGTERM, which means "stop" and sends --stop-signal (systemd's KillSignal=).
 */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

/**
 * Signals never handled: faults that only the process itself raises, job control (Ctrl-Z stops
 * sockact as a shell expects), SIGCHLD (the reaper's), and what Node itself needs or cannot catch.
 * SIGABRT is systemd's WatchdogSignal= (systemd.service(5), WatchdogSec=): a main process that
 * missed its pings gets it and must die of it; passed on, it would kill the app instead and
 * leave a hung sockact for systemd to SIGKILL with everything else after TimeoutAbortSec=.
 */
const NOT_FORWARDED = new Set([
  'SIGABRT',
  'SIGKILL',
  'SIGSTOP',
  'SIGSEGV',
  'SIGBUS',
  'SIGFPE',
  'SIGILL',
  'SIGTRAP',
  'SIGCHLD',
  'SIGCLD',
  'SIGPIPE',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGCONT',
  'SIGPROF',
  'SIGIOT',
  'SIGUNUSED',
  'SIGPOLL',
  'SIGLOST',
  'SIGINFO',
  'SIGHUP',
  ...STOP_SIGNALS,
]);

/** Every other catchable signal: passed on to the serving children, so sockact never dies of one. */
export const PASSED_SIGNALS: readonly NodeJS.Signals[] = Object.keys(constants.signals).filter(
  (s) => !NOT_FORWARDED.has(s),
) as NodeJS.Signals[];

/**
 * sockact as a supervisor: holds the sockets for the whole run and lets children come and go.
 * Installs the signal policy before the first child starts (installSignals), then serves the
 * control socket and watches paths; a takeover, on either side, is a Takeover (takeover-state.ts).
 */
export async function startService(o: ServiceOptions): Promise<Service> {
  const owner = o.launch.uid !== undefined ? { uid: o.launch.uid, gid: o.launch.gid ?? 0 } : undefined;
  const receiver = new NotifyReceiver(owner, o.warn);
  // Taking over from a sockact under systemd: notify where it did (a deploy tool's shell has no NOTIFY_SOCKET).
  const upEnv = process.env.NOTIFY_SOCKET === undefined ? (o.takeover?.upstreamEnv ?? process.env) : process.env;
  const above = systemdUpstream(upEnv, o.warn);
  const opts: Partial<SupervisorOptions> = { ...o.supervisor };
  if (above?.watchdogMs !== undefined) opts.upstreamWatchdog = above.watchdogMs;
  let control: ControlServer | undefined;
  const takeover = new Takeover({
    session: o.takeover,
    clock: realClock,
    systemd: above?.upstream,
    // The --daemon parent waiting for the first READY=1.
    others: o.upstream ? [o.upstream] : [],
    fds: o.launch.fds,
    names: o.launch.names,
    offerMessage,
    moveControl: (path) => control?.moveTo(path),
    log: o.log,
    warn: o.warn,
  });
  const sup = new Supervisor(opts, takeover.seam(realSeam(o, opts, receiver)), realClock, o.log, takeover.upstream());
  takeover.attach(sup);
  installSignals(sup);

  let watcher: Watcher | undefined;
  const release = () => {
    watcher?.close();
    control?.close();
    receiver.close();
  };
  try {
    if (o.controlPath !== undefined) control = await serveControlFor(o, sup, takeover);
    if (o.watch?.length) watcher = watchPaths(o.watch, o.watchDebounce ?? 200, (path) => reloadOn(path, sup, o));
  } catch (err) {
    release();
    throw err;
  }
  sup.start();
  const done = sup.done.then((ending): Ending => {
    release();
    return takeover.ending(ending);
  });
  return {
    supervisor: sup,
    get controlPath() {
      return control?.path;
    },
    done,
    handedOver: takeover.handedOver,
    get takeoverFailed() {
      return takeover.failed;
    },
  };
}

/** --watch saw `path` change. */
function reloadOn(path: string, sup: Supervisor, o: ServiceOptions): void {
  o.log(`${path} changed: reloading`);
  void sup.reload();
}

/** Children for real, each with its own notify socket from `receiver`, nothing left of them in their group. */
function realSeam(o: ServiceOptions, opts: Partial<SupervisorOptions>, receiver: NotifyReceiver): RealSeam {
  const signal = opts.stopSignal ?? DEFAULTS.stopSignal;
  const leftovers = { signal, timeoutMs: opts.stopTimeout ?? DEFAULTS.stopTimeout, log: o.log };
  return new RealSeam({
    launch: o.launch,
    receiver,
    prefix: o.prefix ?? false,
    workers: opts.workers ?? 1,
    ...(o.afterExit ? { afterExit: o.afterExit } : {}),
    leftovers,
  });
}

/**
 * The signal policy: SIGHUP reloads (or is passed on with --reload-signal), SIGTERM/SIGINT/SIGQUIT
 * stop (a second one kills), every other catchable signal goes to the serving children. As PID 1
 * it also reaps orphans, looking before it reaps so that libuv still gets its own children's exit
 * statuses. The handlers stay until the process ends: removing the last one restores the signal's
 * default action, and a SIGHUP that came after the last child's end would kill sockact (exit 129).
 * Once stopping, a reload is refused and a stop is the second one (supervisor.ts).
 */
function installSignals(sup: Supervisor): void {
  const on = (signal: string, h: () => void) => {
    try {
      process.on(signal as NodeJS.Signals, h);
    } catch {
      // not a signal this platform lets Node handle
    }
  };
  on('SIGHUP', () => void sup.reload());
  for (const s of STOP_SIGNALS) on(s, () => sup.stop(s === 'SIGTERM' ? undefined : s));
  for (const s of PASSED_SIGNALS) {
    on(s, () => {
      for (const w of sup.live) w.handle?.kill(s);
    });
  }
  if (process.pid === 1) {
    on('SIGCHLD', () => {
      for (const pid of zombieChildren()) if (!spawnedPids.has(pid)) reap(pid);
    });
  }
}

/** The control socket; while taking over, next to the old sockact's until the takeover commits. */
function serveControlFor(o: ServiceOptions, sup: Supervisor, takeover: Takeover): Promise<ControlServer> {
  const path = o.controlPath!;
  return serveControl(o.takeover ? join(dirname(path), `.${basename(path)}.takeover-${process.pid}`) : path, {
    status: () => ({ ...sup.report(process.pid), line: sup.statusLine(), sockets: o.launch.fds.length }),
    reload: () => sup.reload(),
    stop: () => sup.stop(),
    handover: (peerPid) => takeover.handover(peerPid),
  });
}

/** What a sockact taking over from this one learns with the fds: where to notify systemd. */
function offerMessage(): string {
  const env = process.env;
  const ours = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === String(process.pid);
  const watchdog = ours ? env.WATCHDOG_USEC : undefined;
  return JSON.stringify({ pid: process.pid, notifySocket: env.NOTIFY_SOCKET, watchdogUsec: watchdog });
}
