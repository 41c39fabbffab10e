import childProcess, { type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SockactError, usageError } from '../protocol/errors.js';
import { checkPidFile, removePidFile, writePidFile } from '../launch/pidfile.js';
import { NOTIFY_MAX_BYTES, parseNotifyMessage } from '../protocol/notify.js';
import type { Upstream } from '../supervise/seam.js';
import { systemdUpstream } from '../supervise/upstream.js';
import { bind, closeFd, errorReason, pollLoop, recvmsg, SOCK_NONBLOCK, socket } from '../sys/index.js';
import { atExit } from './exit.js';
import type { RunConfig } from './parse.js';

/**
 * Daemon mode and the pid file. Node cannot fork(2), so `--daemon` re-executes sockact (same
 * node, same script, same argv) as a detached child, the daemon, and waits for it the way systemd
 * waits for a Type=notify service (docs/protocol.md 21, 23): the daemon's NOTIFY_SOCKET is a
 * private socket of the waiting command, named by DAEMON_ENV, which also tells the re-executed
 * sockact that it is the daemon. READY=1 there means the first generation serves: the command
 * exits 0. The daemon ending first means it could not start: the command prints the daemon's
 * last message and fails.
 */

/** The waiting command's notify socket, in the daemon's environment only. */
export const DAEMON_ENV = 'SOCKACT_DAEMON_SOCKET';
/** Application-defined notify keys (docs/protocol.md 21: X_ prefix): a line the daemon logged or warned. */
const LOGGED = 'X_SOCKACT_LOG';
const WARNED = 'X_SOCKACT_ERROR';

type Log = (line: string) => void;

/** Whether this process is the daemon a `sockact --daemon` started (and is waiting for). */
export function isDaemon(c: RunConfig): boolean {
  return c.daemon && process.env[DAEMON_ENV] !== undefined;
}

/**
 * The command's side of --daemon: start the daemon and wait until it serves or ends. Resolves with
 * the exit status for the command; the message for a failure has been printed with `warn`.
 */
export async function startDaemon(c: RunConfig, argv: readonly string[], log: Log, warn: Log): Promise<number> {
  if (process.env.LISTEN_PID === String(process.pid)) {
    const why = 'a service manager that passes sockets runs sockact in the foreground';
    throw usageError(`--daemon: sockact was started with sockets of its own (LISTEN_FDS); ${why}`);
  }
  if (c.pidFile !== undefined) checkPidFile(c.pidFile);
  const out = c.logFile === undefined ? 'ignore' : openLogFile(c.logFile);
  const notify = openNotifySocket();
  const started = performance.now();
  const child = spawnDaemon(argv, notify.path, out);
  if (typeof out === 'number') closeSync(out);
  const code = await waitForDaemon(child, notify.fd, warn);
  notify.close();
  if (code === 0) {
    child.unref();
    log(`running in the background as pid ${child.pid}, ready in ${Math.round(performance.now() - started)} ms`);
  }
  return code;
}

/** --log-file opened for appending: the daemon's stdout and stderr. */
function openLogFile(file: string): number {
  try {
    return openSync(file, 'a', 0o640);
  } catch (err) {
    throw new SockactError('ERR_LOG_FILE', `can't open --log-file ${file}: ${errorReason(err)}`, { cause: err });
  }
}

/** The waiting command's notify socket: a datagram socket in a fresh 0700 directory. */
function openNotifySocket(): { fd: number; path: string; close(): void } {
  const dir = mkdtempSync(join(process.env.XDG_RUNTIME_DIR ?? tmpdir(), 'sockact-daemon-')); // 0700
  const path = join(dir, 'notify.sock');
  const fd = socket('unix', 'dgram', SOCK_NONBLOCK);
  const close = () => {
    closeFd(fd);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    bind(fd, { family: 'unix', path });
  } catch (err) {
    close();
    throw err;
  }
  return { fd, path, close };
}

/** sockact again (same node, script and argv) as a detached child, told where to report. */
function spawnDaemon(argv: readonly string[], notifyPath: string, out: number | 'ignore'): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, [DAEMON_ENV]: notifyPath };
  // The daemon leaves whatever service manager this command ran under (daemon(7)).
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[name];
  const args = [...process.execArgv, process.argv[1]!, ...argv];
  // detached: spawn calls setsid() in the child: a new session without a controlling terminal.
  return childProcess.spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out], env });
}

/** What the daemon has said on the notify socket so far. */
interface Heard {
  ready: boolean;
  /** The last line it logged, and the last warning (X_SOCKACT_LOG, X_SOCKACT_ERROR). */
  lastLine?: string;
  lastWarning?: string;
}

/** Read every message queued on the notify socket into `heard`; passed fds are closed. */
function drain(fd: number, heard: Heard): void {
  for (;;) {
    let m;
    try {
      m = recvmsg(fd, NOTIFY_MAX_BYTES + 1, 16, false);
    } catch {
      return;
    }
    if (!m) return;
    for (const passed of m.fds) closeFd(passed);
    if (m.truncated || m.data.includes(0)) continue;
    const fields = parseNotifyMessage(m.data);
    heard.lastLine = fields.get(LOGGED) ?? heard.lastLine;
    heard.lastWarning = fields.get(WARNED) ?? heard.lastWarning;
    if (fields.get('READY') === '1') heard.ready = true;
  }
}

/**
 * The command's exit status: 0 once the daemon sends READY=1; else its exit code (at least 1)
 * when it ends first, or 1 when it cannot start or SIGINT/SIGTERM stops the wait (and the daemon).
 */
function waitForDaemon(child: ChildProcess, fd: number, warn: Log): Promise<number> {
  const heard: Heard = { ready: false };
  return new Promise<number>((resolve) => {
    const watch = pollLoop().watch(fd, () => {
      drain(fd, heard);
      if (heard.ready) finish(0);
    });
    const onSignal = (signal: NodeJS.Signals) => {
      child.kill('SIGTERM');
      warn(`${signal} while waiting: stopped the daemon (pid ${child.pid}) before it was ready`);
      finish(1);
    };
    const finish = (status: number) => {
      watch.close();
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      child.removeAllListeners();
      resolve(status);
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    child.on('error', (err) => {
      warn(`can't start the daemon: ${errorReason(err)}`);
      finish(1);
    });
    child.on('exit', (status, signal) => {
      // What it said just before it ended may still be queued on the socket.
      drain(fd, heard);
      if (heard.ready) return finish(0);
      const how = signal ? `killed by ${signal}` : `exited with code ${status}`;
      const last = heard.lastLine ? ` (${heard.lastLine})` : '';
      warn(heard.lastWarning ?? `the daemon ${how} before it was ready${last}`);
      finish(status || 1);
    });
  });
}

/** What the run tells once it serves, and where its messages also go while it starts. */
export interface Serving {
  /** Passed to the supervisor: its first READY=1 means the first generation serves. */
  upstream: Upstream;
  /** Serving now, for modes without a supervisor (accept mode, --on-demand waiting). */
  now(): void;
  /** A message sockact printed, for the waiting command (until it serves). */
  tee(line: string, warning: boolean): void;
}

/**
 * The daemon's side (and --pid-file's, with or without --daemon). For the daemon: into / with
 * umask 022 (daemon(7)), once the config is parsed, so every relative path in it was resolved
 * against the caller's directory (cli/parse.ts). Once serving: the pid file is written, then
 * READY=1 goes to the waiting command, which then exits; the daemon says nothing to it after that.
 */
export function serving(c: RunConfig, fail: (err: unknown) => never): Serving {
  let parent: Upstream | undefined;
  if (isDaemon(c)) {
    const path = process.env[DAEMON_ENV]!;
    delete process.env[DAEMON_ENV];
    process.chdir('/');
    process.umask(0o022);
    parent = systemdUpstream({ NOTIFY_SOCKET: path }, () => {})?.upstream;
  }
  if (c.pidFile !== undefined) checkPidFile(c.pidFile);
  let done = false;
  const now = () => {
    if (done) return;
    done = true;
    if (c.pidFile !== undefined) {
      const file = c.pidFile;
      try {
        writePidFile(file);
      } catch (err) {
        // Another sockact wrote it since the check at start: this one ends (its children with it).
        fail(err);
      }
      atExit(() => removePidFile(file));
    }
    parent?.send({ READY: '1', MAINPID: String(process.pid) });
    parent = undefined;
  };
  return {
    upstream: {
      send(fields) {
        if (fields.READY === '1') now();
      },
    },
    now,
    tee(line, warning) {
      parent?.send({ [warning ? WARNED : LOGGED]: line });
    },
  };
}
