import type { ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { type ErrorCode, quote, SockactError } from '../protocol/errors.js';
import { fdNameProblem } from '../protocol/fdname.js';
import { parseNotifyMessage } from '../protocol/notify.js';
import { TRAMPOLINE, TRAMPOLINE_SHELL, upgradeEnv } from '../protocol/upgrade.js';
import { SO_PASSCRED, SOCK_NONBLOCK, SOL_SOCKET } from '../sys/constants.js';
import { errorReason } from '../sys/errors.js';
import { closeFd } from '../sys/fd.js';
import { pollLoop, type Watch } from '../sys/loop.js';
import { recvmsg } from '../sys/msg.js';
import { parentPidNow } from '../sys/proc.js';
import { bind, setsockoptInt, socket } from '../sys/socket.js';
import { adoptedBy, servedServers } from './adopt.js';
import { listenFds } from './listen-fds.js';
import { fdOf } from './node-internals.js';
import { notify, upgradeState } from './notify.js';
import { shutdown } from './shutdown.js';
import { stopWatchdog } from './watchdog.js';

export interface UpgraderOptions {
  /** Milliseconds the new copy has to call notify.ready() (default 60000, tableflip's); then it is killed. */
  timeout?: number;
  /** Milliseconds the old process lets in-flight requests finish once the new copy is ready (default 10000). */
  drainTimeout?: number;
  /** The new copy's command: [program, ...args]. Default: this process again (execPath, execArgv, argv). */
  command?: readonly string[];
  /** Its environment (default process.env); LISTEN_* are replaced, NOTIFY_SOCKET passes through. */
  env?: NodeJS.ProcessEnv;
  /** Upgrade when this signal arrives (systemd's ExecReload=kill -HUP $MAINPID: 'SIGHUP'). A failure is a warning. */
  signal?: NodeJS.Signals;
  /** Exit 0 once drained (default true). */
  exit?: boolean;
}

export interface UpgradeResult {
  /** The new copy's pid (the process that serves now). */
  pid: number;
  /** Connections force-closed when the drain timeout ran out (0: everything drained). */
  forced: number;
}

export interface Upgrader {
  /** Start a new copy, wait until it is ready, then drain. Rejects with the reason, old process still serving. */
  upgrade(): Promise<UpgradeResult>;
  /** Remove the signal handler. */
  stop(): void;
}

/** What is passed to the new copy: fd, name, and the server to drain (none for a fd no server of listen() holds). */
interface Passed {
  fd: number;
  name: string;
  server?: Parameters<typeof shutdown>[0];
}

function upgradeError(
  code: ErrorCode,
  message: string,
  fields: { value?: unknown; cause?: unknown } = {},
): SockactError {
  return new SockactError(code, message, fields);
}

/**
 * The sockets to pass: every fd this process inherited (listenFds(), in order, names kept), the
 * ones listen() adopted at the fd its server holds now, then the sockets listen() bound itself
 * (not activated), each with the name listen() was given.
 */
function collect(): Passed[] {
  const served = servedServers();
  const byFd = new Map<number, Passed>();
  for (const s of served) {
    const fd = fdOf(s.server as net.Server);
    if (fd !== undefined) byFd.set(fd, { fd, name: s.name, server: s.server as Passed['server'] });
  }
  const out: Passed[] = [];
  for (const d of listenFds({ unsetEnv: false })) {
    // Adopted by listen() but no longer served: closed, and its number may be another file's now.
    if (adoptedBy(d.fd) === 'listen()' && !byFd.has(d.fd)) continue;
    out.push(byFd.get(d.fd) ?? { fd: d.fd, name: d.name });
    byFd.delete(d.fd);
  }
  out.push(...byFd.values());
  for (const p of out) {
    const problem = fdNameProblem(p.name);
    if (problem)
      throw upgradeError('ERR_UPGRADE', `can't pass fd ${p.fd}: its name ${quote(p.name)} ${problem}`, {
        value: p.name,
      });
  }
  return out;
}

/** A private 0700 directory with a datagram socket (SO_PASSCRED: the kernel names each sender's pid). */
function readySocket(): { fd: number; path: string; dir: string } {
  const base = process.env.XDG_RUNTIME_DIR || process.env.TMPDIR || '/tmp';
  const dir = mkdtempSync(`${base}/sockact-upgrade-`);
  const path = `${dir}/ready.sock`;
  let fd = -1;
  try {
    fd = socket('unix', 'dgram', SOCK_NONBLOCK);
    bind(fd, { family: 'unix', path });
    setsockoptInt(fd, SOL_SOCKET, SO_PASSCRED, 1);
    return { fd, path, dir };
  } catch (cause) {
    if (fd >= 0) closeFd(fd);
    rmSync(dir, { recursive: true, force: true });
    throw upgradeError('ERR_UPGRADE', `can't make the upgrade's ready socket in ${base}: ${errorReason(cause)}`, {
      cause,
    });
  }
}

/** Why this process may not upgrade now (tableflip's errNotReady, "parent hasn't exited"), or undefined. */
function notNow(): SockactError | undefined {
  if (!upgradeState.ready) {
    const why = 'not ready yet: an upgrade is refused until this process has called notify.ready()';
    return upgradeError('ERR_UPGRADE_NOT_READY', why);
  }
  // The old process is this one's parent until it exits (then this one is reparented).
  const parent = upgradeState.startedBy;
  if (parent !== undefined && parentPidNow() === parent) {
    const why = 'the process this one replaced is still running: an upgrade is refused until it has exited';
    return upgradeError('ERR_UPGRADE_OLD_RUNNING', why, { value: parent });
  }
  return undefined;
}

/**
 * The new copy (`pid`) is ready: MAINPID=<pid> to systemd (when NOTIFY_SOCKET is set), no more
 * watchdog keep-alives from here, and every passed server drains. Resolves with the connections
 * force-closed.
 */
async function retire(pid: number, passed: readonly Passed[], drainTimeout: number): Promise<number> {
  if (process.env.NOTIFY_SOCKET !== undefined) {
    try {
      notify.mainPid(pid);
    } catch (err) {
      process.emitWarning(`MAINPID=${pid} not sent: ${(err as Error).message}`, { code: 'SOCKACT_UPGRADE' });
    }
  }
  stopWatchdog();
  const servers = passed.flatMap((p) => (p.server ? [p.server] : []));
  const results = await Promise.all(servers.map((s) => shutdown(s, { timeout: drainTimeout, notify: false })));
  return results.reduce((n, r) => n + r.forced, 0);
}

/** Close the ready socket and remove its directory. */
function release(ready: { fd: number; dir: string }): void {
  closeFd(ready.fd);
  rmSync(ready.dir, { recursive: true, force: true });
}

/** The options with their defaults, each checked: a bad one throws ERR_UPGRADE_OPTIONS naming it. */
function checkOptions(options: UpgraderOptions): { timeout: number; drainTimeout: number; command: readonly string[] } {
  const timeout = options.timeout ?? 60_000;
  const drainTimeout = options.drainTimeout ?? 10_000;
  for (const [what, value] of [
    ['timeout', timeout],
    ['drainTimeout', drainTimeout],
  ] as const) {
    const why = `${what} must be a positive number of milliseconds: ${quote(value)}`;
    if (!(value > 0)) throw upgradeError('ERR_UPGRADE_OPTIONS', why, { value });
  }
  const command = options.command ?? [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  if (command.length === 0) {
    throw upgradeError('ERR_UPGRADE_OPTIONS', 'command must name a program', { value: command });
  }
  return { timeout, drainTimeout, command };
}

/** Start the new copy through the trampoline, with the passed sockets at fd 3.. (`env` names them). */
async function startCopy(command: readonly string[], passed: readonly Passed[], env: NodeJS.ProcessEnv) {
  const { spawn } = await import('node:child_process');
  let child: ChildProcess;
  try {
    child = spawn(TRAMPOLINE_SHELL, ['-c', TRAMPOLINE, ...command], {
      stdio: ['inherit', 'inherit', 'inherit', ...passed.map((p) => p.fd)],
      env,
    });
  } catch (cause) {
    const why = `can't start the new copy (${command.join(' ')}): ${errorReason(cause)}`;
    throw upgradeError('ERR_UPGRADE', why, { cause });
  }
  // The new copy outlives this process; it must not keep it alive either.
  child.unref();
  return child;
}

/**
 * Resolves with the new copy's pid once its own READY=1 reaches the ready socket; rejects when it exits or fails to
 * start first, or is not ready within `timeout` (then it is killed).
 */
function readyFrom(child: ChildProcess, readyFd: number, timeout: number, label: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let watch: Watch | undefined;
    let timer: NodeJS.Timeout | undefined;
    const settle = (err?: SockactError) => {
      watch?.close();
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err) reject(err);
      else resolve(child.pid!);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      settle(upgradeError('ERR_UPGRADE', `the new copy (pid ${child.pid}) ${how} before it was ready`));
    };
    const onError = (cause: Error) => {
      settle(upgradeError('ERR_UPGRADE', `can't start the new copy (${label}): ${errorReason(cause)}`, { cause }));
    };
    child.once('exit', onExit);
    child.once('error', onError);
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      const why = `the new copy (pid ${child.pid}) was not ready within ${timeout} ms: killed it`;
      settle(upgradeError('ETIMEDOUT', why));
    }, timeout);
    watch = pollLoop().watch(readyFd, () => {
      // Level-triggered: read every queued datagram. Only the new copy's own READY=1 counts.
      for (let m = recvmsg(readyFd, 4096, 0); m; m = recvmsg(readyFd, 4096, 0)) {
        if (m.credentials?.pid === child.pid && parseNotifyMessage(m.data).get('READY') === '1') return settle();
      }
    });
  });
}

/**
 * Self-upgrade for an app that runs alone (tableflip's Upgrader; the graceful restart of seed
 * 001). `upgrade()` starts a new copy of this program with its listening sockets at fd 3.. and
 * exact LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES (through the /bin/sh trampoline: Node cannot
 * exec in place, so the pid changes), and waits until the new copy calls notify.ready(), which
 * reaches the old process over a private datagram socket (SOCKACT_UPGRADE_SOCKET). Only then:
 * MAINPID=<new pid> when NOTIFY_SOCKET is set (systemd follows the new process; the unit needs
 * NotifyAccess=all), the watchdog stops, and every server listen() started drains (shutdown(),
 * without STOPPING=1: the service is not stopping). Then the process exits 0 unless `exit` is
 * false. A new copy that exits first or is not ready within `timeout` (then it is killed) leaves
 * this process serving as before, and the promise rejects with the reason.
 *
 * One upgrade at a time, as tableflip, across copies too: a call while one runs is refused
 * (ERR_UPGRADE_RUNNING), and so is any call once one succeeded (ERR_UPGRADE_DONE), before this
 * process has called notify.ready() (ERR_UPGRADE_NOT_READY), and in a copy while the process it
 * replaced is still running (ERR_UPGRADE_OLD_RUNNING: it is this copy's parent until it exits). So a copy that is
 * not ready yet never starts one of its own, and the first process never serves beside a copy newer than the one it
 * waits for.
 */
export function upgrader(options: UpgraderOptions = {}): Upgrader {
  const { timeout, drainTimeout, command } = checkOptions(options);
  // The new copy's pid while an upgrade runs (0 until it is started), and once one succeeded.
  let running: number | undefined;
  let done: number | undefined;

  const upgrade = async (): Promise<UpgradeResult> => {
    if (done !== undefined) {
      throw upgradeError('ERR_UPGRADE_DONE', `already upgraded: pid ${done} took over`, { value: done });
    }
    if (running !== undefined) {
      const why = `an upgrade is already running${running ? ` (new copy pid ${running})` : ''}`;
      throw upgradeError('ERR_UPGRADE_RUNNING', why, { value: running || undefined });
    }
    const refused = notNow();
    if (refused) throw refused;
    running = 0;
    try {
      const passed = collect();
      const ready = readySocket();
      let pid: number;
      try {
        const env = upgradeEnv(
          options.env ?? process.env,
          passed.map((p) => p.name),
          ready.path,
        );
        const child = await startCopy(command, passed, env);
        running = child.pid;
        pid = await readyFrom(child, ready.fd, timeout, command.join(' '));
      } finally {
        release(ready);
      }
      done = pid;
      const forced = await retire(pid, passed, drainTimeout);
      if (options.exit !== false) setImmediate(() => process.exit(0));
      return { pid, forced };
    } finally {
      running = undefined;
    }
  };

  const onSignal = () => {
    upgrade().catch((err: unknown) => {
      process.emitWarning(`upgrade failed: ${(err as Error).message}`, { code: 'SOCKACT_UPGRADE' });
    });
  };
  if (options.signal) process.on(options.signal, onSignal);
  return {
    upgrade,
    stop: () => {
      if (options.signal) process.off(options.signal, onSignal);
    },
  };
}
