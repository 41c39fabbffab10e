import type { ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import { bindAll, removeOnExit, type BoundSocket } from '../launch/bind.js';
import { parseSetenv } from '../launch/env.js';
import { LaunchError, UsageError } from '../launch/errors.js';
import { lookupGroup, lookupUser } from '../launch/ids.js';
import { inheritedSockets } from '../launch/inherited.js';
import { EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, resolveProgram } from '../launch/program.js';
import type { SpawnActivatedOptions } from '../launch/spawn.js';
import { exitLike } from './exit.js';
import { parseCommandLine, type RunConfig } from './parse.js';

/*
 * Start-up budget: sockets bound within 40 ms of a bare `node -e 0`. Every ES module file costs
 * about a millisecond to load here, so only what binding needs is imported statically; spawning,
 * signals, accept mode and --on-demand are loaded after the sockets are bound, and --help's yargs
 * only for --help.
 */

type Log = (line: string) => void;

/**
 * Write one line to stderr. writeSync skips creating process.stderr (a net or tty stream, ~2 ms
 * of start-up); the stream is the fallback for a non-blocking stderr that is full (EAGAIN).
 */
function say(line: string, more = ''): void {
  const text = `sockact: ${line}\n${more}`;
  try {
    writeSync(2, text);
  } catch {
    process.stderr.write(text);
  }
}

/** Errors are printed even with -q, which silences the lifecycle messages only. */
const warn: Log = say;

function fail(err: unknown): never {
  const hint = err instanceof UsageError ? "Try 'sockact --help' for more information.\n" : '';
  say(err instanceof Error ? err.message : String(err), hint);
  process.exit(err instanceof LaunchError ? err.exitCode : 1);
}

/** A socket the child gets, in fd order, with its name and what to print for it. */
interface Passed {
  fd: number;
  name: string | undefined;
  label: string;
  inherited: boolean;
}

function socketsToPass(c: RunConfig, inherited: Awaited<ReturnType<typeof inheritedSockets>>, bound: BoundSocket[]): Passed[] {
  const out: Passed[] = inherited.map((d) => ({ fd: d.fd, name: d.name, label: d.address ?? `fd ${d.fd}`, inherited: true }));
  bound.forEach((b, i) => {
    const name = b.spec.name ?? (c.fdnames?.length === 1 ? c.fdnames[0] : c.fdnames?.[i]);
    out.push({ fd: b.fd, name, label: b.label, inherited: false });
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

/** Exit status for a child that could not be started at all (spawn's 'error' event). */
function spawnFailure(err: NodeJS.ErrnoException): number {
  return err.code === 'ENOENT' ? EXIT_NOT_FOUND : err.code === 'EACCES' ? EXIT_NOT_EXECUTABLE : 1;
}

async function run(c: RunConfig, log: Log): Promise<void> {
  // Everything that can be refused is checked before a socket is bound or a program started.
  const user = c.user !== undefined ? lookupUser(c.user) : undefined;
  const gid = c.group !== undefined ? lookupGroup(c.group) : user?.gid;
  const setenv = parseSetenv(c.setenv);
  if (user) {
    // As systemd's User=: the program sees its own identity, unless -E says otherwise.
    for (const [k, v] of [['USER', user.name], ['LOGNAME', user.name], ['HOME', user.home]] as const) setenv[k] ??= v;
  }
  const program = resolveProgram(c.program, setenv.PATH ?? process.env.PATH, user?.uid);
  const inherited = await inheritedSockets();
  const total = inherited.length + c.specs.length;
  if (total === 0) throw new UsageError('nothing to listen on: give -l ADDRESS (or start sockact with sockets of its own)');
  if (c.inetd && total !== 1) throw new UsageError(`--inetd passes exactly one socket on stdin and stdout, but there are ${total}`);
  if (c.accept) {
    const bad = inherited.find((d) => !(d.kind === 'socket' && d.listening && d.type !== 'dgram'));
    if (bad) throw new UsageError(`--accept: inherited fd ${bad.fd} (${bad.name}) is not a listening stream or seqpacket socket`);
  }

  const base: SpawnActivatedOptions = { program, args: c.args, fds: [], setenv };
  if (user) base.uid = user.uid;
  if (gid !== undefined) base.gid = gid;

  const bound = bindAll(c.specs);
  try {
    const passed = socketsToPass(c, inherited, bound);
    passed.forEach((p, i) => {
      const named = p.name !== undefined ? ` (${p.name})` : '';
      const as = c.accept ? '' : c.inetd ? ' as stdin/stdout' : ` as fd ${3 + i}`;
      log(`${p.inherited ? 'passing on inherited' : 'listening on'} ${p.label}${as}${named}`);
    });
    await (c.accept ? acceptMode(c, base, passed, bound, log) : runOnce(c, base, passed, bound, log));
  } catch (err) {
    // Whatever stops the launch after binding (the hand-off socket, a poll error), remove-on-exit holds.
    removeOnExit(bound);
    throw err;
  }
}

/** Start the program once with every socket; end as it ends. */
async function runOnce(c: RunConfig, base: SpawnActivatedOptions, passed: Passed[], bound: BoundSocket[], log: Log): Promise<void> {
  const [{ describeExit, describeStartFailure, spawnActivated }, { forwardSignals }] = await Promise.all([
    import('../launch/spawn.js'),
    import('../launch/signals.js'),
  ]);
  if (c.onDemand) {
    const { waitForActivity } = await import('../launch/wait.js');
    log('waiting for the first connection or datagram');
    const stopWaiting = forwardSignals((signal) => {
      // Nothing started yet: the signal ends the launcher, as it would systemd-socket-activate.
      removeOnExit(bound);
      exitLike(null, signal);
    });
    await waitForActivity(passed.map((p) => p.fd));
    stopWaiting();
  }

  const opts: SpawnActivatedOptions = { ...base, fds: c.inetd ? [] : passed.map((p) => p.fd) };
  if (c.inetd) opts.stdio = [passed[0]!.fd, passed[0]!.fd, 'inherit'];
  const names = c.inetd ? undefined : fdNames(passed);
  if (names) opts.names = names;
  let child: ChildProcess | undefined;
  const handoff = c.wrapper ? await offerToDescendants(base, passed, () => child?.pid, log) : undefined;
  if (handoff) opts.setenv = { ...opts.setenv, ...handoff.env };
  const ending = () => {
    handoff?.close();
    removeOnExit(bound);
  };
  const cantStart = (err: NodeJS.ErrnoException): never => {
    warn(describeStartFailure(describeCommand(c), err));
    ending();
    process.exit(spawnFailure(err));
  };
  try {
    child = spawnActivated(opts);
  } catch (err) {
    // Node throws, rather than emitting 'error', when the child's setuid or setgroups is refused.
    return cantStart(err as NodeJS.ErrnoException);
  }
  forwardSignals((signal, delivered) => {
    if (!delivered && child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
  child.on('error', cantStart);
  const pid = child.pid;
  if (pid !== undefined) log(`started ${describeCommand(c)} as pid ${pid}`);
  child.on('exit', (code, signal) => {
    if (pid !== undefined) log(describeExit(pid, code, signal));
    ending();
    exitLike(code, signal);
  });
}

/**
 * --wrapper: offer the sockets over the hand-off socket too, to descendants of the program only
 * (launch/handoff.ts), for an app behind npm or a shell that does not exec.
 */
async function offerToDescendants(base: SpawnActivatedOptions, passed: Passed[], root: () => number | undefined, log: Log) {
  const { serveHandoff } = await import('../launch/handoff.js');
  const opts: Parameters<typeof serveHandoff>[0] = { fds: passed.map((p) => p.fd), names: passed.map((p) => p.name ?? 'unknown'), root };
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
async function acceptMode(c: RunConfig, base: SpawnActivatedOptions, passed: Passed[], bound: BoundSocket[], log: Log): Promise<void> {
  const [{ runAccept }, { forwardSignals }] = await Promise.all([import('../launch/accept.js'), import('../launch/signals.js')]);
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
  };
  if (c.maxConnections !== undefined) opts.maxConnections = c.maxConnections;
  if (base.uid !== undefined) opts.uid = base.uid;
  if (base.gid !== undefined) opts.gid = base.gid;
  const server = runAccept(opts);
  log(`accepting connections for ${describeCommand(c)} (at most ${server.maxConnections} at once)`);
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
    if (cmd.kind === 'subcommand') throw new UsageError(`unknown subcommand ${cmd.name}`);
    const log: Log = cmd.config.quiet ? () => {} : say;
    await run(cmd.config, log);
  } catch (err) {
    fail(err);
  }
}
