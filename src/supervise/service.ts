import { constants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { SpawnActivatedOptions } from '../launch/spawn.js';
import { reap, zombieChildren } from '../sys/proc.js';
import { formatDuration } from '../protocol/duration.js';
import { serveControl, type ControlServer, type HandoverOffer } from './control.js';
import { NotifyReceiver } from './notify-receiver.js';
import { RealSeam, realClock, spawnedPids } from './real.js';
import type { ProcessSeam, Upstream } from './seam.js';
import { DEFAULTS, describeStatus, Supervisor, type Ending, type SupervisorOptions } from './supervisor.js';
import type { TakeoverSession } from './takeover.js';
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
export const PASSED_SIGNALS: readonly NodeJS.Signals[] = Object.keys(constants.signals).filter((s) => !NOT_FORWARDED.has(s)) as NodeJS.Signals[];

/**
 * sockact as a supervisor: holds the sockets for the whole run and lets children come and go.
 * Installs the signal policy before the first child starts: SIGHUP reloads (or is passed on with
 * --reload-signal), SIGTERM/SIGINT/SIGQUIT stop (a second one kills), every other catchable
 * signal goes to the serving children. As PID 1 it also reaps orphans, looking before it reaps
 * so that libuv still gets its own children's exit statuses.
 */
export async function startService(o: ServiceOptions): Promise<Service> {
  const receiver = new NotifyReceiver(o.launch.uid !== undefined ? { uid: o.launch.uid, gid: o.launch.gid ?? 0 } : undefined, o.warn);
  // Taking over from a sockact under systemd: notify where it did (a deploy tool's shell has no NOTIFY_SOCKET).
  const upEnv = process.env.NOTIFY_SOCKET === undefined && o.takeover?.upstreamEnv ? o.takeover.upstreamEnv : process.env;
  const above = systemdUpstream(upEnv, o.warn);
  const opts: Partial<SupervisorOptions> = { ...o.supervisor };
  if (above?.watchdogMs !== undefined) opts.upstreamWatchdog = above.watchdogMs;
  const real = new RealSeam({
    launch: o.launch,
    receiver,
    prefix: o.prefix ?? false,
    workers: opts.workers ?? 1,
    ...(o.afterExit ? { afterExit: o.afterExit } : {}),
    leftovers: { signal: opts.stopSignal ?? DEFAULTS.stopSignal, timeoutMs: opts.stopTimeout ?? DEFAULTS.stopTimeout, log: o.log },
  });

  /*
   * Takeover, both sides. The old sockact, once told to retire, says nothing more to systemd:
   * STOPPING=1 would stop the unit, which the new sockact now serves. The new one says nothing
   * until its children are ready (a failed takeover must not send STOPPING=1 either); the
   * supervisor's first READY=1 is what starts the hand-off (commit below).
   */
  let takeover: 'pending' | 'committed' | 'failed' | undefined = o.takeover ? 'pending' : undefined;
  let failure: string | undefined;
  let retiring = false;
  // systemd's NOTIFY_SOCKET, and the --daemon parent waiting for the first READY=1.
  const ups = [above?.upstream, o.upstream].filter((u) => u !== undefined);
  const upstream: Upstream | undefined =
    ups.length > 0 || o.takeover
      ? {
          send(fields) {
            if (retiring || (takeover !== undefined && takeover !== 'committed')) {
              // commit() sends its own READY=1, with MAINPID=.
              if (takeover === 'pending' && fields.READY === '1') void commit();
              return;
            }
            for (const u of ups) u.send(fields);
          },
        }
      : undefined;
  // A child of the new sockact that ends before all are ready fails the takeover at once.
  const seam: ProcessSeam = o.takeover
    ? {
        spawn: (req, events) =>
          real.spawn(req, {
            notify: events.notify,
            exit: (status) => {
              // Once sockact is stopping (a signal), children end because they were told to.
              if (takeover === 'pending' && sup.phase === 'starting') {
                const w = sup.slots[req.worker];
                const ready = w?.readyAt !== undefined ? '' : ' before it was ready';
                const why = w?.failure ? `: ${w.failure}` : status.lastLine ? `: its last words were ${JSON.stringify(status.lastLine.slice(0, 200))}` : '';
                fail(`pid ${w?.pid ?? '?'} ${describeStatus(status)}${ready}${why}`);
              }
              events.exit(status);
            },
          }),
      }
    : real;
  const sup = new Supervisor(opts, seam, realClock, o.log, upstream);

  const handlers: [string, () => void][] = [];
  const on = (signal: string, h: () => void) => {
    try {
      process.on(signal as NodeJS.Signals, h);
      handlers.push([signal, h]);
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

  let control: ControlServer | undefined;
  let watcher: Watcher | undefined;
  const release = () => {
    for (const [s, h] of handlers) process.off(s as NodeJS.Signals, h);
    watcher?.close();
    control?.close();
    receiver.close();
  };

  function fail(reason: string): void {
    if (takeover !== 'pending') return;
    takeover = 'failed';
    failure = reason;
    o.takeover!.abandon();
    sup.stop();
  }

  /**
   * The new sockact's children are ready: take the control socket's path (rename(2) over the old
   * one's file, so `sockact status` always reaches one of them), tell systemd the main pid is now
   * this one (before the old one can exit), then tell the old one to retire.
   */
  async function commit(): Promise<void> {
    const t = o.takeover!;
    takeover = 'committed';
    const readyIn = performance.now() - t.startedAt;
    try {
      control?.moveTo(t.path);
    } catch (err) {
      o.warn(`can't move the control socket to ${t.path}: ${(err as Error).message}`);
    }
    above?.upstream.send({ MAINPID: String(process.pid), READY: '1', STATUS: sup.statusLine() });
    o.log(`children ready ${formatDuration(readyIn)} after the takeover began: telling pid ${t.oldPid} to retire`);
    try {
      await t.retire();
    } catch (err) {
      o.warn(`${(err as Error).message}; serving anyway`);
      return;
    }
    void t.closed.then(() => o.log(`pid ${t.oldPid} exited: hand-off done in ${formatDuration(performance.now() - t.startedAt)}`));
  }

  const handedOver = new Set<number>();
  let takingOver: number | undefined;
  const handover = (peerPid: number): HandoverOffer | string => {
    if (retiring) return 'it is retiring already';
    if (sup.phase !== 'running') return `it is ${sup.phase}`;
    if (takeover === 'pending') return 'it is taking over from another sockact itself';
    if (takingOver !== undefined) return `pid ${takingOver} is taking over already`;
    const fds = o.launch.fds;
    if (fds.length === 0) return 'it holds no sockets to hand over (--inetd)';
    takingOver = peerPid;
    const watchdog = process.env.WATCHDOG_PID === undefined || process.env.WATCHDOG_PID === String(process.pid) ? process.env.WATCHDOG_USEC : undefined;
    o.log(`pid ${peerPid} is taking over: handing it ${fds.length} socket${fds.length === 1 ? '' : 's'}`);
    return {
      fds,
      names: o.launch.names ?? fds.map(() => 'unknown'),
      message: JSON.stringify({ pid: process.pid, notifySocket: process.env.NOTIFY_SOCKET, watchdogUsec: watchdog }),
      retire(taken) {
        retiring = true;
        for (const i of taken) handedOver.add(fds[i]!);
        o.log(`pid ${peerPid} took over ${taken.length} of ${fds.length} socket${fds.length === 1 ? '' : 's'} and serves: retiring`);
        sup.stop();
      },
      abandoned() {
        takingOver = undefined;
        o.log(`pid ${peerPid} gave up taking over: serving on`);
      },
    };
  };

  try {
    if (o.controlPath !== undefined) {
      // While taking over, the old sockact still owns the path: serve next to it until commit().
      const path = o.takeover ? join(dirname(o.controlPath), `.${basename(o.controlPath)}.takeover-${process.pid}`) : o.controlPath;
      control = await serveControl(path, {
        status: () => ({ ...sup.report(process.pid), line: sup.statusLine(), sockets: o.launch.fds.length }),
        reload: () => sup.reload(),
        stop: () => sup.stop(),
        handover,
      });
    }
    if (o.watch?.length) {
      watcher = watchPaths(o.watch, o.watchDebounce ?? 200, (path) => {
        o.log(`${path} changed: reloading`);
        void sup.reload();
      });
    }
  } catch (err) {
    release();
    throw err;
  }
  sup.start();
  const done = sup.done.then((ending): Ending => {
    release();
    // Retired: its children drained as on a stop, and that is a success whatever they exited with.
    if (retiring) return { status: { code: 0, signal: null } };
    if (takeover === 'pending' || takeover === 'failed') {
      o.takeover!.abandon();
      const why = failure ?? 'sockact was stopped before its children were ready';
      return { status: { code: 1, signal: null }, reason: `takeover failed: ${why}; pid ${o.takeover!.oldPid} keeps serving` };
    }
    return ending;
  });
  return {
    supervisor: sup,
    get controlPath() {
      return control?.path;
    },
    done,
    handedOver,
    get takeoverFailed() {
      return takeover === 'pending' || takeover === 'failed';
    },
  };
}
