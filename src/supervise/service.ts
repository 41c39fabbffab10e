import { constants } from 'node:os';
import type { SpawnActivatedOptions } from '../launch/spawn.js';
import { reap, zombieChildren } from '../sys/proc.js';
import { serveControl, type ControlServer } from './control.js';
import { NotifyReceiver } from './notify-receiver.js';
import { RealSeam, realClock, spawnedPids } from './real.js';
import type { Upstream } from './seam.js';
import { Supervisor, type Ending, type SupervisorOptions } from './supervisor.js';
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
  log: (line: string) => void;
  warn: (line: string) => void;
  /**
   * Also told what sockact tells its service manager (READY=1 once the first generation serves):
   * the pid file and --daemon's waiting parent (cli/daemon.ts).
   */
  upstream?: Upstream;
}

export interface Service {
  readonly supervisor: Supervisor;
  readonly controlPath: string | undefined;
  /** Settles when every child is gone and sockact should end; resources are released by then. */
  readonly done: Promise<Ending>;
}

/**
 * Signals that end sockact's children (stop); the one received is passed on as the stop signal,
 * except SIGTERM, which means "stop" and sends --stop-signal (systemd's KillSignal=).
 */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

/**
 * Signals never handled: faults that only the process itself raises, job control (Ctrl-Z stops
 * sockact as a shell expects), SIGCHLD (the reaper's), and what Node itself needs or cannot catch.
 */
const NOT_FORWARDED = new Set([
  'SIGKILL', 'SIGSTOP', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGTRAP', 'SIGCHLD', 'SIGCLD',
  'SIGPIPE', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGCONT', 'SIGPROF', 'SIGIOT', 'SIGUNUSED', 'SIGPOLL', 'SIGLOST', 'SIGINFO',
  'SIGHUP', ...STOP_SIGNALS,
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
  const above = systemdUpstream(process.env, o.warn);
  const opts: Partial<SupervisorOptions> = { ...o.supervisor };
  if (above?.watchdogMs !== undefined) opts.upstreamWatchdog = above.watchdogMs;
  const seam = new RealSeam({ launch: o.launch, receiver, prefix: o.prefix ?? false, workers: opts.workers ?? 1 });
  const ups = [above?.upstream, o.upstream].filter((u) => u !== undefined);
  const upstream: Upstream | undefined = ups.length > 1 ? {
    send(fields) {
      for (const u of ups) u.send(fields);
    },
  } : ups[0];
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
  try {
    if (o.controlPath !== undefined) {
      control = await serveControl(o.controlPath, {
        status: () => ({ ...sup.report(process.pid), line: sup.statusLine(), sockets: o.launch.fds.length }),
        reload: () => sup.reload(),
        stop: () => sup.stop(),
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
  const done = sup.done.then((ending) => {
    release();
    return ending;
  });
  return { supervisor: sup, controlPath: control?.path, done };
}
