/**
 * Self-upgrade (app/upgrade.ts): what an app passes to the new copy of itself. Pure: no OS access.
 */
import { HANDOFF_ENV } from './handoff.js';
import { LISTEN_ENV_VARS } from './listen-env.js';

/**
 * The private datagram socket of the old process, where the new copy's notify.ready() sends
 * READY=1 (besides NOTIFY_SOCKET, which is passed through unchanged so the new copy can keep
 * talking to systemd once the old one is gone).
 */
export const UPGRADE_ENV = 'SOCKACT_UPGRADE_SOCKET';

/** The shell that runs the LISTEN_PID trampoline. */
export const TRAMPOLINE_SHELL = '/bin/sh';
/**
 * `$$` in the shell is the pid that `exec` keeps, so the program reads its own pid in LISTEN_PID
 * (docs/protocol.md 13). "$0" "$@" pass PROGRAM and ARGS through untouched, whatever they contain.
 */
export const TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"';

/**
 * The new copy's environment: `base` without the old process's own LISTEN_*, hand-off socket and
 * WATCHDOG_PID (it names the old pid; unset means "ours", docs/protocol.md 22), with LISTEN_FDS,
 * LISTEN_FDNAMES for `names` and UPGRADE_ENV. LISTEN_PID comes from the trampoline.
 */
export function upgradeEnv(base: NodeJS.ProcessEnv, names: readonly string[], readySocket: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of [...LISTEN_ENV_VARS, HANDOFF_ENV, 'WATCHDOG_PID']) delete env[name];
  if (names.length > 0) {
    env.LISTEN_FDS = String(names.length);
    env.LISTEN_FDNAMES = names.join(':');
  }
  env[UPGRADE_ENV] = readySocket;
  return env;
}
