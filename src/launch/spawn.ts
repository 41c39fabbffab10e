import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { errorReason } from '../sys/errors.js';
import { activationEnv } from './env.js';
import { cloexecInheritedFds } from './fds.js';
import { LaunchError } from './errors.js';

/** The shell that runs the LISTEN_PID trampoline. */
export const TRAMPOLINE_SHELL = '/bin/sh';
/**
 * `$$` in the shell is the pid that `exec` keeps, so the program reads its own pid in LISTEN_PID
 * (docs/protocol.md 13). "$0" "$@" pass PROGRAM and ARGS through untouched, whatever they contain.
 */
export const TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"';

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
}

let shellChecked = false;

function checkShell(): void {
  if (shellChecked) return;
  try {
    accessSync(TRAMPOLINE_SHELL, constants.X_OK);
  } catch (cause) {
    throw new LaunchError(
      'ERR_NO_SHELL',
      `${TRAMPOLINE_SHELL} is missing: sockact execs the program through it to set LISTEN_PID to the program's own pid`,
      1,
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
 * execs in place and keeps the pid. With uid/gid libuv also drops the supplementary groups.
 */
export function spawnActivated(opts: SpawnActivatedOptions): ChildProcess {
  const count = opts.fds.length;
  const envOpts: Parameters<typeof activationEnv>[0] = { count };
  if (opts.env) envOpts.base = opts.env;
  if (opts.setenv) envOpts.setenv = opts.setenv;
  if (opts.names) envOpts.names = opts.names;
  const env = activationEnv(envOpts);
  cloexecInheritedFds();
  if (count > 0) checkShell();
  const [cmd, argv] = count > 0 ? [TRAMPOLINE_SHELL, ['-c', TRAMPOLINE, opts.program, ...(opts.args ?? [])]] : [opts.program, [...(opts.args ?? [])]];
  const stdio: StdioOptions = [...(opts.stdio ?? (['inherit', 'inherit', 'inherit'] as const)), ...opts.fds];
  return spawn(cmd, argv, {
    stdio,
    env,
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
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
