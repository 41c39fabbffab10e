import childProcess, { type ChildProcess, type StdioOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { errorReason } from '../sys/errors.js';
import { activationEnv } from './env.js';
import { cloexecInheritedFds } from './fds.js';
import { SockactError } from '../protocol/errors.js';
import { TRAMPOLINE, TRAMPOLINE_SHELL } from '../protocol/upgrade.js';

// The trampoline lives in protocol/ so the app side's self-upgrade starts programs the same way.
export { TRAMPOLINE, TRAMPOLINE_SHELL };

/** One of the first three stdio slots: inherited, /dev/null, a pipe, or a fd of the launcher. */
export type StdioEntry = 'inherit' | 'ignore' | 'pipe' | number;

export interface SpawnActivatedOptions {
  /** The program: a path (see resolveProgram) or a name found on the child's PATH. */
  program: string;
  args?: readonly string[];
  /** Sockets (the launcher's fds), placed at 3, 4, ... in this order. */
  fds: readonly number[];
  /** LISTEN_FDNAMES, one per fd. */
  names?: readonly string[];
  /** Base environment (stale LISTEN_*, NOTIFY_SOCKET, WATCHDOG_* are removed from it). */
  env?: NodeJS.ProcessEnv;
  /** Extra variables (-E). */
  setenv?: Record<string, string>;
  uid?: number;
  gid?: number;
  /**
   * stdin, stdout, stderr; inherited by default. Inetd mode puts the connection on 0 and 1 and
   * passes no fds (`fds: []`): then no LISTEN_* and no trampoline.
   */
  stdio?: [StdioEntry, StdioEntry, StdioEntry];
  cwd?: string;
  /**
   * Start the child in its own session and process group (setsid). Signals sent to the
   * launcher's group or from its terminal then reach the launcher alone, which passes each on
   * exactly once (a signal to the whole group would otherwise arrive twice).
   */
  detached?: boolean;
  /**
   * Leave WATCHDOG_PID unset even when the child gets WATCHDOG_USEC: the program is a wrapper
   * (npm, a shell that does not exec) and the watchdog belongs to a descendant whose pid is not
   * known, which libsystemd and go-systemd accept only without WATCHDOG_PID.
   */
  noWatchdogPid?: boolean;
  /**
   * Sent to the program when the launcher dies (PR_SET_PDEATHSIG, kept across exec), through
   * util-linux's setpriv(1); skipped where there is no setpriv.
   */
  parentDeathSignal?: NodeJS.Signals;
}

/** A shell variable name: dash keeps only these in the environment it passes on (the rest are dropped). */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Where the trampoline keeps values the shell would lose, for the time of one exec. */
const KEEP = 'SOCKACT_TRAMPOLINE_';

/** The first of `paths` that can be run, once per process (the program's PATH may lack them). */
const findTool = (() => {
  const found = new Map<string, string | undefined>();
  return (name: string): string | undefined => {
    if (!found.has(name)) {
      found.set(
        name,
        ['/usr/bin/', '/bin/', '/usr/sbin/', '/sbin/']
          .map((d) => d + name)
          .find((p) => {
            try {
              accessSync(p, constants.X_OK);
              return true;
            } catch {
              return false;
            }
          }),
      );
    }
    return found.get(name);
  };
})();

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * The /bin/sh script that execs the program in place, and the environment to start it with, so
 * that the program gets exactly `env` (dash drops variables whose names are not shell names,
 * `a-b` or `1X`, and adds PWD), its own pid in LISTEN_PID when it gets fds and in WATCHDOG_PID
 * when it gets a watchdog (docs/protocol.md 13, 25), and a parent-death signal (setpriv(1)).
 * Values the shell would lose travel in KEEP variables and go back by `env NAME=VALUE`; they
 * show in env's own argv only between two execs.
 */
export function trampoline(
  env: NodeJS.ProcessEnv,
  opts: {
    listenPid: boolean;
    watchdogPid?: boolean;
    parentDeathSignal?: NodeJS.Signals;
  },
): { script: string; env: NodeJS.ProcessEnv } {
  const shellEnv: NodeJS.ProcessEnv = {};
  const restore: string[] = [];
  let n = 0;
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (SHELL_NAME.test(name) && !name.startsWith(KEEP)) shellEnv[name] = value;
    else {
      shellEnv[`${KEEP}${n}`] = value;
      restore.push(`${quote(name)}="$${KEEP}${n}"`);
      n++;
    }
  }
  const lines: string[] = [];
  if (opts.listenPid) lines.push('LISTEN_PID=$$; export LISTEN_PID');
  if (opts.watchdogPid) lines.push('WATCHDOG_PID=$$; export WATCHDOG_PID');
  // dash sets PWD when it is unset or names another directory than the current one.
  if (env.PWD === undefined) lines.push('unset PWD');
  else {
    shellEnv[`${KEEP}PWD`] = env.PWD;
    lines.push(`PWD="$${KEEP}PWD"; unset ${KEEP}PWD`);
  }
  const exec = ['exec'];
  const setpriv = opts.parentDeathSignal && findTool('setpriv');
  if (setpriv) exec.push(quote(setpriv), '--pdeathsig', opts.parentDeathSignal!.replace(/^SIG/, ''), '--');
  if (restore.length) {
    const envTool = findTool('env') ?? 'env';
    exec.push(quote(envTool), ...Array.from({ length: n }, (_, i) => `-u ${KEEP}${i}`), ...restore);
  }
  exec.push('"$0" "$@"');
  lines.push(exec.join(' '));
  return { script: lines.join('; '), env: shellEnv };
}

let shellChecked = false;

function checkShell(): void {
  if (shellChecked) return;
  try {
    accessSync(TRAMPOLINE_SHELL, constants.X_OK);
  } catch (cause) {
    throw new SockactError(
      'ERR_NO_SHELL',
      `${TRAMPOLINE_SHELL} is missing: ` +
        `sockact execs the program through it to set LISTEN_PID and WATCHDOG_PID to the program's own pid`,
      { cause },
    );
  }
  shellChecked = true;
}

/**
 * Start `program` with `fds` at 3.. and LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID set, as systemd
 * does (docs/protocol.md 12-14). The child gets exactly fds 0, 1, 2 and the sockets: every fd the seam
 * makes is close-on-exec, so is every fd the launcher inherited (cloexecInheritedFds, done once),
 * and libuv clears that flag only on the copies it places at 3... Node
 * cannot run code between fork and exec, so LISTEN_PID comes from the /bin/sh trampoline, which
 * execs in place and keeps the pid. So does WATCHDOG_PID whenever the child gets WATCHDOG_USEC
 * (setenv: --watchdog-sec, -E), fds or not (docs/protocol.md 25). With uid/gid libuv also drops
 * the supplementary groups.
 */
export function spawnActivated(opts: SpawnActivatedOptions): ChildProcess {
  const count = opts.fds.length;
  let env = activationEnv({ count, base: opts.env, setenv: opts.setenv, names: opts.names });
  cloexecInheritedFds();
  const extras = opts.parentDeathSignal !== undefined;
  const watchdog = env.WATCHDOG_USEC !== undefined && !opts.noWatchdogPid;
  let cmd = opts.program;
  let argv = [...(opts.args ?? [])];
  if (count > 0 || watchdog || extras) {
    checkShell();
    const t = trampoline(env, {
      listenPid: count > 0,
      watchdogPid: watchdog,
      parentDeathSignal: opts.parentDeathSignal,
    });
    env = t.env;
    // "$0" "$@": the program as given (argv[0] `cat`, found on PATH by the shell, as execvp does).
    [cmd, argv] = [TRAMPOLINE_SHELL, ['-c', t.script, opts.program, ...argv]];
  }
  const stdio: StdioOptions = [...(opts.stdio ?? (['inherit', 'inherit', 'inherit'] as const)), ...opts.fds];
  // child_process.spawn treats an undefined uid, gid, cwd or detached as not given.
  return childProcess.spawn(cmd, argv, {
    stdio,
    env,
    uid: opts.uid,
    gid: opts.gid,
    cwd: opts.cwd,
    detached: opts.detached,
  });
}

/** The lifecycle line for a child that ended: "pid 42 exited with code 0", "pid 42 killed by SIGTERM". */
export function describeExit(pid: number, code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `pid ${pid} killed by ${signal}` : `pid ${pid} exited with code ${code ?? 0}`;
}

/** The line for a program that could not be started: "can't start node server.js: operation not permitted". */
export function describeStartFailure(command: string, err: unknown): string {
  // Node's own message ("spawn EPERM", when the child's setuid is refused) names neither.
  return `can't start ${command}: ${errorReason(err)}`;
}
