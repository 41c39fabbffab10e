import type { ChildProcess } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND } from '../launch/program.js';
import { spawnActivated, type SpawnActivatedOptions } from '../launch/spawn.js';
import { formatDuration } from '../protocol/duration.js';
import { formatServing, MIGRATE_DIR_ENV, type MigrateWorker, SERVING_FILE } from '../protocol/migrate-dir.js';
import { O_CLOEXEC } from '../sys/constants.js';
import { errorReason } from '../sys/errors.js';
import { closeFd, growPipe, isNullDevice, pipe } from '../sys/fd.js';
import { acceptingOn } from '../sys/proc.js';
import type { NotifyReceiver } from './notify-receiver.js';
import { type LinePipe, pipeLines, processOutput } from './output.js';
import type { ChildEvents, ChildHandle, Clock, ExitStatus, ProcessSeam, SpawnRequest, Timer } from './seam.js';

/** setTimeout's limit: a longer (or infinite) timer never fires. */
const MAX_TIMER = 2 ** 31 - 1;

/**
 * The clock of the real supervisor: CLOCK_MONOTONIC in ms (libuv's hrtime reads it on Linux), so
 * that MONOTONIC_USEC (sd_notify(3)) is systemd's clock, and timers that keep the process alive.
 * Not performance.now(): its global loads perf_hooks (ten modules) into every sockact.
 */
export const realClock: Clock = {
  now: () => Number(process.hrtime.bigint()) / 1e6,
  setTimer(ms: number, fn: () => void): Timer {
    if (!(ms <= MAX_TIMER)) return { cancel() {} };
    const t = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  },
};

export interface RealSeamOptions {
  /** The program, its sockets at 3.., names and environment, as for a plain launch. */
  launch: SpawnActivatedOptions;
  receiver: NotifyReceiver;
  /** Prefix each line of the children's output with "[generation.worker pid] " (pipes their stdout and stderr). */
  prefix?: boolean;
  workers: number;
  /** Called once a child has ended and its status is passed on (the sockact command collects its garbage then). */
  afterExit?: () => void;
  /**
   * What a child leaves running in its process group when it ends (a shell that did not exec,
   * npm's script, a helper in the background) gets `signal`, then SIGKILL after `timeoutMs`, and
   * the child's end is passed on once the group is empty: nothing of a generation outlives it,
   * as nothing of a unit outlives its stop under systemd's KillMode=control-group.
   */
  leftovers?: { signal: string; timeoutMs: number; log: (line: string) => void };
}

/** Whether any process is left in process group `pgid` that this process may signal. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false; // ESRCH: none; EPERM: none of ours
  }
}

function signalGroup(pgid: number, signal: string): void {
  try {
    process.kill(-pgid, signal as NodeJS.Signals);
  } catch {
    // gone meanwhile
  }
}

/** The capacity asked for the children's output pipes with --prefix (the default pipe-max-size). */
const PIPE_BYTES = 1024 * 1024;

let stdoutIsNull: boolean | undefined;
/** Whether sockact's stdout is /dev/null: asked once, it is the same for every child. */
const stdoutDiscarded = (): boolean => (stdoutIsNull ??= isNullDevice(1));

/** Polling while a group drains (only then; nothing runs in the steady state). */
const GROUP_POLL_MS = 50;

/** The children's pids libuv spawned and will reap itself (the PID 1 reaper leaves these alone). */
export const spawnedPids = new Set<number>();

/**
 * Children for real: spawnActivated (fds at 3.., exact LISTEN_PID) in their own session, so a
 * signal to sockact's process group or from its terminal reaches sockact alone and is passed on
 * exactly once; each with its own NOTIFY_SOCKET from the receiver.
 */
export class RealSeam implements ProcessSeam {
  constructor(private readonly opts: RealSeamOptions) {}

  /**
   * Workers share one listening socket and one accept queue; each new connection wakes every
   * worker's epoll, and libuv accepts in a loop until EAGAIN, so the worker that wakes first
   * takes a whole burst. UV_TCP_SINGLE_ACCEPT=1 (libuv, src/unix/tcp.c and stream.c) makes a
   * Node worker accept one connection per wake-up and yield, so the others get their share;
   * other runtimes ignore it. A value the user gave (environment or -E) wins.
   */
  #balance(): Record<string, string> {
    const { env, setenv } = this.opts.launch;
    const given = (env ?? process.env).UV_TCP_SINGLE_ACCEPT ?? setenv?.UV_TCP_SINGLE_ACCEPT;
    return this.opts.workers > 1 && given === undefined ? { UV_TCP_SINGLE_ACCEPT: '1' } : {};
  }

  /**
   * The migration directory's SERVING_FILE (protocol/migrate-dir.ts): a new file, then
   * rename(2) over the old one, so a reader sees one whole list or the other; rename replaces
   * whatever is at the name (a symlink too) without following it, and O_EXCL never follows one.
   */
  serving(workers: readonly MigrateWorker[]): void {
    const dir = this.opts.receiver.dir;
    const tmp = join(dir, `.${SERVING_FILE}-${process.pid}`);
    try {
      rmSync(tmp, { force: true });
      writeFileSync(tmp, formatServing(workers), { flag: 'wx', mode: 0o600 });
      renameSync(tmp, join(dir, SERVING_FILE));
    } catch (err) {
      // Without the file no connection moves: the older generation drains as before.
      this.opts.leftovers?.log(`connection migration off: can't write ${join(dir, SERVING_FILE)}: ${errorReason(err)}`);
    }
  }

  spawn(req: SpawnRequest, events: ChildEvents): ChildHandle {
    return new RealChild(this.opts, req, events, this.#balance()).start();
  }
}

/**
 * One child, from spawn to the moment its end is told: its notify channel, its output pipes
 * (--prefix), and what it leaves in its process group.
 */
class RealChild {
  #pid: number | undefined;
  #child: ChildProcess | undefined;
  #ended = false;
  /** The last lines of its stderr (--prefix), for the line that says why it ended. */
  readonly #tail: string[] = [];
  readonly #pipes: LinePipe[] = [];
  /**
   * The child's process group once the child is gone and something in it is not (it is the
   * group's leader: detached, so setsid; the kernel keeps the id unused while the group lives).
   */
  #leftGroup: number | undefined;
  readonly #channel: ReturnType<NotifyReceiver['open']>;

  constructor(
    private readonly opts: RealSeamOptions,
    private readonly req: SpawnRequest,
    private readonly events: ChildEvents,
    private readonly balance: Record<string, string>,
  ) {
    this.#channel = opts.receiver.open(
      (fields) => events.notify(fields),
      () => `pid ${this.#pid ?? '?'}`,
    );
  }

  start(): ChildHandle {
    const launch = this.opts.launch;
    const opts: SpawnActivatedOptions = {
      ...launch,
      // MIGRATE_DIR_ENV: where generations hand connections over (app/migrate.ts); the
      // receiver's private directory, reachable by the children's user only.
      setenv: {
        ...this.balance,
        ...launch.setenv,
        ...this.req.env,
        NOTIFY_SOCKET: this.#channel.path,
        [MIGRATE_DIR_ENV]: this.opts.receiver.dir,
      },
      detached: true,
    };
    // --prefix: the child's stdout and stderr are pipes, as a shell's `|` makes them (Node's
    // 'pipe' is a socketpair): the child sees a FIFO, and writes in the pipe's own chunks.
    // When sockact's stdout is /dev/null the child gets it as it is: tagging lines nobody will
    // read would cost the child a pipe (a quarter of its write rate, BENCHMARKS.md) for nothing.
    // Its stderr is always read: its last lines say why it ended.
    const outPipes: [number, number][] = [];
    let stdoutPipe: [number, number] | undefined;
    let stderrPipe: [number, number] | undefined;
    let child: ChildProcess;
    try {
      if (this.opts.prefix) {
        if (!stdoutDiscarded()) {
          stdoutPipe = pipe(O_CLOEXEC);
          outPipes.push(stdoutPipe);
        }
        stderrPipe = pipe(O_CLOEXEC);
        outPipes.push(stderrPipe);
        // A child writing faster than sockact wakes blocks each time the pipe is full: a larger
        // pipe (kernel memory, bounded by pipe-max-size) lets it write on while sockact relays.
        for (const [r] of outPipes) growPipe(r, PIPE_BYTES);
        opts.stdio = [launch.stdio?.[0] ?? 'inherit', stdoutPipe?.[1] ?? 'inherit', stderrPipe[1]];
      }
      child = spawnActivated(opts);
    } catch (err) {
      for (const [r] of outPipes) closeFd(r);
      // Node throws (rather than emitting 'error') when the child's setuid or setgroups is refused.
      queueMicrotask(() => this.#end({ code: startCode(err), signal: null, startFailure: errorReason(err) }));
      return { pid: undefined, kill() {} };
    } finally {
      // The child has its own copies of the write ends: the pipes end when it (and what it started) does.
      for (const [, w] of outPipes) closeFd(w);
    }
    this.#child = child;
    const pid = child.pid;
    this.#pid = pid;
    if (pid !== undefined) spawnedPids.add(pid);
    child.on('error', (err) => {
      if (child.pid === undefined) this.#end({ code: startCode(err), signal: null, startFailure: errorReason(err) });
    });
    child.on('exit', (code, signal) => this.#end({ code, signal }));
    if (stderrPipe) this.#pipeOutput(stdoutPipe?.[0], stderrPipe[0]);
    const fds = launch.fds.map((_, i) => 3 + i);
    return { pid, kill: (signal) => this.#kill(signal), accepting: () => pid !== undefined && acceptingOn(pid, fds) };
  }

  /** Relays the read ends (no stdout when it went to /dev/null). */
  #pipeOutput(stdoutFd: number | undefined, stderrFd: number): void {
    const tag = `[${this.req.generation}${this.opts.workers > 1 ? `.${this.req.worker}` : ''} ${this.#pid ?? '?'}] `;
    const out = processOutput();
    const stream = (fd: number) => new net.Socket({ fd, readable: true, writable: false });
    if (stdoutFd !== undefined) this.#pipes.push(pipeLines(stream(stdoutFd), out.stdout, tag));
    this.#pipes.push(
      pipeLines(stream(stderrFd), out.stderr, tag, (line) => {
        if (line.trim() === '') return;
        this.#tail.push(line);
        if (this.#tail.length > 20) this.#tail.shift();
      }),
    );
  }

  #kill(signal: string): void {
    // Stopping (or killing) a generation whose leftovers still drain: they get it.
    if (this.#leftGroup !== undefined) return signalGroup(this.#leftGroup, signal);
    const child = this.#child;
    if (this.#ended || !child || child.exitCode !== null || child.signalCode !== null) return;
    try {
      child.kill(signal as NodeJS.Signals);
    } catch {
      // gone meanwhile
    }
  }

  #end(status: ExitStatus): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#channel.close();
    const pid = this.#pid;
    if (pid !== undefined) spawnedPids.delete(pid);
    const rest = this.opts.leftovers;
    if (!rest || pid === undefined || !groupAlive(pid)) return this.#drain(status);
    this.#leftGroup = pid;
    const generation = this.req.generation;
    rest.log(
      `pid ${pid} (generation ${generation}) is gone, but what it started is still running: ` +
        `sending ${rest.signal} to its process group`,
    );
    signalGroup(pid, rest.signal);
    this.events.gone(status);
    const kill = realClock.setTimer(rest.timeoutMs, () => {
      rest.log(
        `process group ${pid} still running ${formatDuration(rest.timeoutMs)} after ${rest.signal}: sending SIGKILL`,
      );
      signalGroup(pid, 'SIGKILL');
    });
    const check = () => {
      if (groupAlive(pid)) return void realClock.setTimer(GROUP_POLL_MS, check);
      kill.cancel();
      this.#drain(status);
    };
    realClock.setTimer(GROUP_POLL_MS, check);
  }

  /**
   * Every line the child wrote is out before its end is told (and before sockact may exit),
   * unless the reader takes none of it for --stop-timeout: sockact must still be able to end.
   */
  #drain(status: ExitStatus): void {
    if (this.#pipes.length === 0) return this.#tell(status);
    let told = false;
    const once = () => {
      if (told) return;
      told = true;
      limit.cancel();
      this.#tell(status);
    };
    const ms = this.opts.leftovers?.timeoutMs ?? Number.POSITIVE_INFINITY;
    const limit = realClock.setTimer(ms, () => {
      this.opts.leftovers?.log(
        `the output of pid ${this.#pid} is still not read ${formatDuration(ms)} after it ended: dropping the rest`,
      );
      for (const p of this.#pipes) p.abandon();
      once();
    });
    void Promise.all(this.#pipes.map((p) => p.settle())).then(once);
  }

  #tell(status: ExitStatus): void {
    this.#leftGroup = undefined;
    // The line that says most: an error, else the last one (Node ends a crash with its version).
    const said = [...this.#tail].reverse().find((l) => /EADDRINUSE|Error|error:/.test(l)) ?? this.#tail.at(-1);
    if (said !== undefined) status.lastLine = said;
    this.events.exit(status);
    this.opts.afterExit?.();
  }
}

/** A shell's status for a program that could not run: 127 not found, 126 not executable. */
function startCode(err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? EXIT_NOT_FOUND : code === 'EACCES' ? EXIT_NOT_EXECUTABLE : 1;
}
