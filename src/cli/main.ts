import { writeSync } from 'node:fs';
import { bindAll, removeOnExit, type BoundSocket } from '../launch/bind.js';
import { parseSetenv } from '../launch/env.js';
import { lookupGroup, lookupUser } from '../launch/ids.js';
import { inheritedSockets } from '../launch/inherited.js';
import { resolveProgram } from '../launch/program.js';
import type { SpawnActivatedOptions } from '../launch/spawn.js';
import { controlPathFor } from '../supervise/control.js';
import { processOutput, type Output } from '../supervise/output.js';
import { startService } from '../supervise/service.js';
import type { Worker } from '../supervise/supervisor.js';
import type { HeldMemory } from '../sys/memory.js';
import type { TakenSockets } from '../supervise/takeover.js';
import { exitLike } from './exit.js';
import { parseCommandLine, type RunConfig } from './parse.js';
import { preflight } from './preflight.js';
import { SockactError, usageError } from '../protocol/errors.js';

/*
 * Start-up budget (BENCHMARKS.md, "A plain launch"): what every launch runs is imported
 * statically; what only some options or subcommands use (--accept, --takeover, --on-demand,
 * --wrapper, the fd store, `sockact unit`, --daemon, --help) is loaded by import(),
 * which the build (scripts/build.js) gathers into one chunk beside the bundle, read only when
 * one of them runs. node:child_process is loaded at the first spawn, after the sockets are bound.
 */

type Log = (line: string) => void;

/** Set once stderr is gone (a closed pipe, `2>&-`): messages are dropped from then on. */
let stderrGone = false;

/**
 * Write one line to stderr. writeSync skips creating process.stderr (a net or tty stream, ~2 ms
 * of start-up); the stream is the fallback for a non-blocking stderr that is full (EAGAIN).
 * When stderr is gone (EPIPE: `sockact ... 2>&1 | head -1`), sockact's own messages are dropped:
 * it must still wait for its program and end with its status, not die of the write.
 */
function say(line: string, more = ''): void {
  if (stderrGone) return;
  const text = `sockact: ${line}\n${more}`;
  if (output) return output.say(text);
  try {
    writeSync(2, text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EAGAIN') {
      // Nothing on stdout instead: without --prefix stdout is the program's own stream (a pipe
      // into jq, say), and a line of sockact's there would corrupt it.
      stderrGone = true;
      return;
    }
    // The stream reports a later EPIPE as an 'error' event, which would end the process unheard.
    if (process.stderr.listenerCount('error') === 0) process.stderr.on('error', () => (stderrGone = true));
    process.stderr.write(text);
  }
}

/**
 * --prefix: the children's lines pass through sockact's stdout and stderr (supervise/output.ts),
 * and its own messages go through the same stream, in order with them.
 */
let output: Output | undefined;

/**
 * Wait until what was written to stdout and stderr is out: Node writes to a pipe asynchronously,
 * and process.exit() drops what is still queued. A reader that takes nothing does not keep
 * sockact from ending on a stop signal.
 */
async function flushOutput(): Promise<void> {
  if (!output) return;
  const stops = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'] as const;
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  for (const s of stops) process.once(s, stop);
  await Promise.race([output.flushed(), stopped]);
  for (const s of stops) process.off(s, stop);
}

/** --daemon, --pid-file: told once sockact serves (cli/daemon.ts). */
let serve: import('./daemon.js').Serving | undefined;

/** --daemon: while the daemon starts, its messages also go to the command waiting for it (cli/daemon.ts). */
let tee: ((line: string, warning: boolean) => void) | undefined;

/** Errors are printed even with -q, which silences the lifecycle messages only. */
const warn: Log = (line) => {
  tee?.(line, true);
  say(line);
};

function fail(err: unknown): never {
  const hint =
    err instanceof SockactError && err.code === 'ERR_USAGE' ? "Try 'sockact --help' for more information.\n" : '';
  tee?.(err instanceof Error ? err.message : String(err), true);
  say(err instanceof Error ? err.message : String(err), hint);
  // The error's exitCode says what a shell expects (2 for usage, 126/127 for the program); else 1.
  process.exit(err instanceof SockactError ? (err.exitCode ?? 1) : 1);
}

/** A socket the child gets, in fd order, with its name and what to print for it. */
interface Passed {
  fd: number;
  name: string | undefined;
  label: string;
  inherited: boolean;
}

/**
 * --fdname names every fd in order, inherited ones first; one name goes to all of them, as
 * systemd-socket-activate copies it to each of its n fds. A new socket's own name= wins.
 */
function socketsToPass(
  c: RunConfig,
  inherited: Awaited<ReturnType<typeof inheritedSockets>>,
  bound: BoundSocket[],
): Passed[] {
  const given = (i: number) => (c.fdnames?.length === 1 ? c.fdnames[0] : c.fdnames?.[i]);
  const out: Passed[] = inherited.map((d, i) => ({
    fd: d.fd,
    name: given(i) ?? d.name,
    label: d.address ?? `fd ${d.fd}`,
    inherited: true,
  }));
  bound.forEach((b, i) => {
    out.push({ fd: b.fd, name: b.spec.name ?? given(inherited.length + i), label: b.label, inherited: false });
  });
  return out;
}

/** Names for LISTEN_FDNAMES, or none when no socket has one (the child then reads "unknown"). */
function fdNames(passed: readonly Passed[]): string[] | undefined {
  return passed.some((p) => p.name !== undefined) ? passed.map((p) => p.name ?? 'unknown') : undefined;
}

/** One word of the command as a shell would need it, shortened: lifecycle messages are one line. */
function shellWord(word: string): string {
  const short = word.length > 60 ? `${word.slice(0, 57)}...` : word;
  if (/^[\w@%+=:,./-]+$/.test(short)) return short;
  // Control characters (a newline in a `-c` script) are shown escaped, as JSON writes them.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  if (/[\x00-\x1f\x7f]/.test(short)) return JSON.stringify(short);
  return `'${short.replace(/'/g, `'\\''`)}'`;
}

function describeCommand(c: RunConfig): string {
  return [c.program, ...c.args].map(shellWord).join(' ');
}

/**
 * SIGTERM to the program when sockact dies (SIGKILL, an OOM kill), which would otherwise live on,
 * orphaned, with the sockets; systemd-socket-activate execs in place and has no such gap. The
 * RLIMIT_NOFILE soft limit and ignored signals sockact was started with cannot be given back:
 * Node raises the one and resets the others before any JavaScript runs (docs/launcher.md, "What
 * the program gets").
 */
const PARENT_DEATH_SIGNAL = 'SIGTERM';

async function run(c: RunConfig, log: Log): Promise<void> {
  // Everything that can be refused is checked before a socket is bound or a program started.
  const base = programOptions(c);
  if (!c.accept) preflight(c);
  let inherited = await inheritedSockets();
  // The fd store (launch/fdstore.ts): $FDSTORE is FileDescriptorStoreMax= (systemd 254+, sd_notify(3)).
  const store = c.fdStore || Number(process.env.FDSTORE) > 0;
  const fdstore = store || inherited.length > 0 ? await import('../launch/fdstore.js') : undefined;
  const fromStore = fdstore?.takeFromStore(inherited, c.specs);
  if (fromStore) inherited = fromStore.passOn;
  checkSockets(c, inherited);

  const took = c.supervise.takeover ? await takeOverSockets(c, log) : undefined;
  const bound = took ? took.bound : fromStore ? fdstore!.bindOrTake(c.specs, fromStore.taken) : bindAll(c.specs);
  try {
    const passed = socketsToPass(c, inherited, bound);
    passed.forEach((p, i) => {
      const from = took?.taken.has(p.fd) ? ` taken over from pid ${took.session!.oldPid}` : '';
      const kept = fromStore?.taken.some((t) => t?.fd === p.fd) ? ', taken back from the fd store' : '';
      log(
        `${p.inherited ? 'passing on inherited' : 'listening on'} ${p.label}${passedAs(c, i)}${named(p)}${from}${kept}`,
      );
    });
    if (fromStore) fdstore!.updateStore(fromStore, bound, store, log, warn);
    await (c.accept ? acceptMode(c, base, passed, bound, log) : runSupervised(c, base, passed, bound, log, took));
  } catch (err) {
    // Whatever stops the launch after binding (the hand-off socket, a poll error), remove-on-exit holds;
    // a takeover leaves the old sockact's sockets and files as they were.
    if (took) took.abandon();
    else removeOnExit(bound);
    throw err;
  }
}

/**
 * The program as it will run: its user and group, its environment (-E, and as systemd's User=
 * its own identity unless -E says otherwise), found on PATH now for a clear error before
 * anything is bound. It is still started by the name as given, so its argv[0] is `cat`, not
 * /usr/bin/cat (systemd-socket-activate's execvp).
 */
function programOptions(c: RunConfig): SpawnActivatedOptions {
  const user = c.user !== undefined ? lookupUser(c.user) : undefined;
  const gid = c.group !== undefined ? lookupGroup(c.group) : user?.gid;
  const setenv = parseSetenv(c.setenv);
  if (user) {
    setenv.USER ??= user.name;
    setenv.LOGNAME ??= user.name;
    setenv.HOME ??= user.home;
  }
  resolveProgram(c.program, setenv.PATH ?? process.env.PATH, user?.uid);
  const base: SpawnActivatedOptions = {
    program: c.program,
    args: c.args,
    fds: [],
    setenv,
    parentDeathSignal: PARENT_DEATH_SIGNAL,
  };
  if (user) base.uid = user.uid;
  if (gid !== undefined) base.gid = gid;
  return base;
}

/** The sockets to pass, inherited and from -l, against --fdname, --inetd and --accept. */
function checkSockets(c: RunConfig, inherited: Awaited<ReturnType<typeof inheritedSockets>>): void {
  const total = inherited.length + c.specs.length;
  if (total === 0) throw usageError('nothing to listen on: give -l ADDRESS (or start sockact with sockets of its own)');
  const names = c.fdnames?.length ?? 0;
  if (names > 1 && !c.accept && names !== total) {
    const from = inherited.length ? ` (${inherited.length} inherited, then ${c.specs.length} from -l)` : '';
    throw usageError(
      `--fdname gives ${names} names for ${total} socket${total === 1 ? '' : 's'}${from}: ` +
        `give one name, or one per socket`,
    );
  }
  if (c.inetd && total !== 1)
    throw usageError(`--inetd passes exactly one socket on stdin and stdout, but there are ${total}`);
  if (c.accept) checkAcceptable(inherited);
}

/** --accept hands each connection of a listening stream socket to a program: nothing else will do. */
function checkAcceptable(inherited: Awaited<ReturnType<typeof inheritedSockets>>): void {
  const bad = inherited.find((d) => !(d.kind === 'socket' && d.listening && d.type !== 'dgram'));
  if (bad)
    throw usageError(`--accept: inherited fd ${bad.fd} (${bad.name}) is not a listening stream or seqpacket socket`);
}

/** How the i-th socket reaches the program, for the "listening on" line. */
function passedAs(c: RunConfig, i: number): string {
  return c.accept ? '' : c.inetd ? ' as stdin/stdout' : ` as fd ${3 + i}`;
}

const named = (p: { name?: string | undefined }): string => (p.name !== undefined ? ` (${p.name})` : '');

/** --takeover: the sockets of the sockact at --control / --name that -l names, the others bound now. */
async function takeOverSockets(c: RunConfig, log: Log) {
  const { takeOver } = await import('../supervise/takeover.js');
  return takeOver(c.supervise.control ?? controlPathFor(c.supervise.name!), c.specs, log);
}

/**
 * sockact may run for months, starting a child per reload: its memory stays flat (src/sys/memory.ts).
 * From its second second on: what that costs (a V8 context, five modules) is off the start-up path,
 * and a launch that is over by then never pays it.
 */
function holdMemoryLater(optimise: boolean): { held: HeldMemory | undefined } {
  const memory: { held: HeldMemory | undefined } = { held: undefined };
  setTimeout(() => {
    void import('../sys/memory.js').then(({ holdMemory }) => (memory.held = holdMemory({ optimise })));
  }, 1000).unref();
  return memory;
}

/**
 * Start the program under the supervisor (src/supervise) with every socket, and end as the
 * supervisor says: with the program's own status for a plain launch, 0 after a requested stop of
 * a supervisor with restarts, 1 when it gave up.
 */
async function runSupervised(
  c: RunConfig,
  base: SpawnActivatedOptions,
  passed: Passed[],
  bound: BoundSocket[],
  log: Log,
  took?: TakenSockets,
): Promise<void> {
  const memory = holdMemoryLater(c.supervise.prefix === true);
  if (c.onDemand) await waitOnDemand(passed, bound, log);
  const launch = activatedLaunch(c, base, passed);
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  // The hand-off serves the descendants of the newest child (--wrapper means one worker).
  const newest = () =>
    service?.supervisor.live.reduce<Worker | undefined>((a, b) => (a && a.startedAt > b.startedAt ? a : b), undefined)
      ?.pid;
  const handoff = c.wrapper ? await offerToDescendants(base, passed, newest, log) : undefined;
  if (handoff) launch.setenv = { ...launch.setenv, ...handoff.env };
  // The program is a wrapper: the watchdog is the app's, a descendant whose pid is not known here.
  if (c.wrapper) launch.noWatchdogPid = true;
  const s = c.supervise;
  const { control, name, watch, watchDebounce, prefix, takeover: _, ...sup } = s;
  if (prefix) output = processOutput();
  service = await startService({
    ...(took?.session ? { takeover: took.session } : {}),
    launch,
    supervisor: { ...sup, command: describeCommand(c) },
    prefix,
    watch,
    ...(watchDebounce !== undefined ? { watchDebounce } : {}),
    controlPath: control ?? controlPathFor(name ?? String(process.pid)),
    log,
    warn,
    ...(serve ? { upstream: serve.upstream } : {}),
    afterExit: () => memory.held?.afterExit(),
  });
  if (took?.session) log(`control socket at ${took.session.path} once the takeover is done`);
  else if (control !== undefined || name !== undefined) log(`control socket at ${service.controlPath}`);
  const ending = await service.done;
  handoff?.close();
  // Socket files handed to a sockact that took over are its own now; a failed takeover changes nothing.
  if (took && service.takeoverFailed) took.abandon();
  else removeOnExit(bound.filter((b) => !service.handedOver.has(b.fd)));
  if (ending.reason) warn(ending.reason);
  const st = ending.status;
  if (st.startFailure !== undefined) warn(`can't start ${describeCommand(c)}: ${st.startFailure}`);
  await flushOutput();
  if (st.startFailure !== undefined) process.exit(st.code ?? 1);
  exitLike(st.code, st.signal as NodeJS.Signals | null);
}

/** --on-demand: start nothing until the first connection or datagram on any socket. */
async function waitOnDemand(passed: Passed[], bound: BoundSocket[], log: Log): Promise<void> {
  const wait = import('../launch/wait.js');
  const { forwardSignals } = await import('../launch/signals.js');
  const { waitForActivity } = await wait;
  log('waiting for the first connection or datagram');
  serve?.now();
  const stopWaiting = forwardSignals((signal) => {
    // Nothing started yet: the signal ends the launcher, as it would systemd-socket-activate.
    removeOnExit(bound);
    exitLike(null, signal);
  });
  await waitForActivity(passed.map((p) => p.fd));
  stopWaiting();
}

/** How each child is spawned: with the sockets as fds 3.. and their names, or (--inetd) one as stdin and stdout. */
function activatedLaunch(c: RunConfig, base: SpawnActivatedOptions, passed: Passed[]): SpawnActivatedOptions {
  const launch: SpawnActivatedOptions = { ...base, fds: c.inetd ? [] : passed.map((p) => p.fd) };
  if (c.inetd) launch.stdio = [passed[0]!.fd, passed[0]!.fd, 'inherit'];
  const names = c.inetd ? undefined : fdNames(passed);
  if (names) launch.names = names;
  return launch;
}

/**
 * --wrapper: offer the sockets over the hand-off socket too, to descendants of the program only
 * (launch/handoff.ts), for an app behind npm or a shell that does not exec.
 */
async function offerToDescendants(
  base: SpawnActivatedOptions,
  passed: Passed[],
  root: () => number | undefined,
  log: Log,
) {
  const { serveHandoff } = await import('../launch/handoff.js');
  const opts: Parameters<typeof serveHandoff>[0] = {
    fds: passed.map((p) => p.fd),
    names: passed.map((p) => p.name ?? 'unknown'),
    root,
    // The program keeps its sockets at fd 3..; only descendants that ask later are turned away.
    onError: (err) => warn(`stopped offering the sockets to the program's descendants: ${err.message}`),
  };
  if (base.uid !== undefined) opts.uid = base.uid;
  if (base.gid !== undefined) opts.gid = base.gid;
  const handoff = serveHandoff(opts);
  log(`offering the sockets to the program's descendants at ${handoff.path}`);
  return handoff;
}

/**
 * One child per connection. A terminating signal stops accepting, is passed to the running
 * children, and the launcher ends by it once they are gone; other signals only reach the children.
 */
async function acceptMode(
  c: RunConfig,
  base: SpawnActivatedOptions,
  passed: Passed[],
  bound: BoundSocket[],
  log: Log,
): Promise<void> {
  const [{ runAccept }, { forwardSignals }] = await Promise.all([
    import('../launch/accept.js'),
    import('../launch/signals.js'),
  ]);
  let ending: NodeJS.Signals | undefined;
  const finish = () => {
    if (ending === undefined || server.children.size > 0) return;
    removeOnExit(bound);
    exitLike(null, ending);
  };
  const opts: Parameters<typeof runAccept>[0] = {
    sockets: passed.map((p) => ({ fd: p.fd, label: p.label })),
    program: base.program,
    args: base.args ?? [],
    setenv: base.setenv ?? {},
    inetd: c.inetd,
    log,
    warn,
    command: describeCommand(c),
    onChildExit: () => finish(),
    parentDeathSignal: PARENT_DEATH_SIGNAL,
  };
  if (c.fdnames) opts.name = c.fdnames[0]!;
  if (c.maxConnections !== undefined) opts.maxConnections = c.maxConnections;
  if (base.uid !== undefined) opts.uid = base.uid;
  if (base.gid !== undefined) opts.gid = base.gid;
  const server = runAccept(opts);
  log(`accepting connections for ${describeCommand(c)} (at most ${server.maxConnections} at once)`);
  serve?.now();
  forwardSignals((signal, delivered) => {
    if (!delivered) {
      for (const child of server.children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    }
    if (signal === 'SIGTERM' || signal === 'SIGINT' || signal === 'SIGQUIT') {
      ending ??= signal;
      server.stop();
      finish();
    }
  });
  server.done.catch((err: unknown) => {
    warn(err instanceof Error ? err.message : String(err));
    removeOnExit(bound);
    process.exit(1);
  });
}

/** The sockact command: parse argv, then launch (or print help or the version). Exits the process on errors. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  try {
    const cmd = parseCommandLine(argv);
    if (cmd.kind === 'help') {
      const { helpText } = await import('./usage.js');
      process.stdout.write(`${await helpText()}\n`);
      return;
    }
    if (cmd.kind === 'version') {
      const { version } = await import('./usage.js');
      process.stdout.write(`${version()}\n`);
      return;
    }
    if (cmd.kind === 'subcommand' && cmd.name === 'unit') {
      const { unitMain } = await import('./unit.js');
      process.exitCode = await unitMain(cmd.argv);
      return;
    }
    if (cmd.kind === 'subcommand') {
      const { controlMain } = await import('./control.js');
      process.exitCode = await controlMain(cmd.name, cmd.argv, say);
      return;
    }
    const c = cmd.config;
    const log: Log = (line) => {
      tee?.(line, false);
      if (!c.quiet) say(line);
    };
    if (c.daemon || c.pidFile !== undefined) {
      const daemon = await import('./daemon.js');
      if (c.daemon && !daemon.isDaemon(c)) process.exit(await daemon.startDaemon(c, argv, log, warn));
      serve = daemon.serving(c, fail);
      tee = serve.tee;
    }
    await run(c, log);
  } catch (err) {
    fail(err);
  }
}
