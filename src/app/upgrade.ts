import { type ErrorCode, quote, SockactError } from '../protocol/errors.js';
import { parentPidNow } from '../sys/proc.js';
import { upgradeState } from './notify.js';

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

function upgradeError(
  code: ErrorCode,
  message: string,
  fields: { value?: unknown; cause?: unknown } = {},
): SockactError {
  return new SockactError(code, message, fields);
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
      // The upgrade's own code is loaded by the first upgrade.
      const { runUpgrade } = await import('./upgrade-run.js');
      const steps = { started: (pid: number) => (running = pid), ready: (pid: number) => (done = pid) };
      const result = await runUpgrade(command, options.env ?? process.env, timeout, drainTimeout, steps);
      if (options.exit !== false) setImmediate(() => process.exit(0));
      return result;
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
