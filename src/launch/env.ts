import { HANDOFF_ENV } from '../protocol/handoff.js';
import { UPGRADE_ENV } from '../protocol/upgrade.js';
import { SockactError, usageError } from '../protocol/errors.js';

/**
 * Variables that describe sockact's own activation, never the child's: passing them on would
 * hand the child fds, a notify socket or a watchdog meant for someone else (docs/protocol.md 15).
 * LISTEN_PID is set by the exec trampoline, and so is WATCHDOG_PID when the child gets
 * WATCHDOG_USEC (--watchdog-sec), LISTEN_FDS and LISTEN_FDNAMES by activationEnv, SOCKACT_FDS_SOCKET
 * by --wrapper (an outer sockact's would offer the child that launcher's sockets), and
 * SOCKACT_UPGRADE_SOCKET (an app upgrading itself waits there for its own new copy only), and
 * FDSTORE (systemd's fd store is sockact's: the child's NOTIFY_SOCKET keeps no fds).
 */
export const STALE_VARIABLES: readonly string[] = [
  'LISTEN_PID',
  'LISTEN_FDS',
  'LISTEN_FDNAMES',
  'LISTEN_PIDFDID',
  'NOTIFY_SOCKET',
  'WATCHDOG_USEC',
  'WATCHDOG_PID',
  'FDSTORE',
  HANDOFF_ENV,
  UPGRADE_ENV,
];

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parse -E/--setenv values (systemd-socket-activate's): NAME=VALUE sets, NAME alone copies the
 * launcher's own value, or sets NAME= when the launcher has none, as systemd's
 * strv_env_replace_strdup_passthrough() does. LISTEN_* and WATCHDOG_PID cannot be set: sockact
 * owns them (WATCHDOG_PID is the program's own pid whenever it gets WATCHDOG_USEC, docs/protocol.md
 * 25). NOTIFY_SOCKET and WATCHDOG_USEC may be passed on this way on purpose.
 */
export function parseSetenv(values: readonly string[], from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const name = eq < 0 ? v : v.slice(0, eq);
    if (!NAME.test(name)) throw usageError(`-E '${v}': '${name}' is not a variable name`, { value: v });
    if (name.startsWith('LISTEN_') || name === 'WATCHDOG_PID') {
      throw usageError(`-E '${v}': sockact sets ${name} itself`, { value: v });
    }
    if (eq >= 0) out[name] = v.slice(eq + 1);
    else out[name] = from[name] ?? '';
  }
  return out;
}

export interface ActivationEnvOptions {
  /** The environment to start from; the launcher's own by default. */
  base?: NodeJS.ProcessEnv;
  /** Variables to set or override (from -E). */
  setenv?: Record<string, string>;
  /** How many fds the child gets at 3..; 0 for none (inetd): no LISTEN_* then. */
  count: number;
  /** One name per fd; omitted names are left for the child to call "unknown". */
  names?: readonly string[];
}

/**
 * The child's environment: the base minus STALE_VARIABLES, plus -E, plus LISTEN_FDS and
 * LISTEN_FDNAMES (docs/protocol.md 13, 14). Unlike systemd-socket-activate, which passes only TERM,
 * PATH, USER and HOME, the whole environment goes through, as a developer tool is expected to.
 * Never a WATCHDOG_PID, not even from `setenv`: the trampoline sets the child's own (docs/protocol.md 25).
 */
export function activationEnv(opts: ActivationEnvOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(opts.base ?? process.env) };
  for (const name of STALE_VARIABLES) delete env[name];
  Object.assign(env, opts.setenv ?? {});
  delete env.WATCHDOG_PID;
  if (opts.count > 0) {
    env.LISTEN_FDS = String(opts.count);
    if (opts.names) {
      if (opts.names.length !== opts.count) {
        throw new SockactError(
          'ERR_FDNAMES',
          `${opts.names.length} fd names for ${opts.count} fds: libsystemd would refuse LISTEN_FDNAMES`,
          {
            exitCode: 2,
            variable: 'LISTEN_FDNAMES',
            value: opts.names.join(':'),
            expected: `${opts.count} names`,
          },
        );
      }
      env.LISTEN_FDNAMES = opts.names.join(':');
    }
  }
  return env;
}
