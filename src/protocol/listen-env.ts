import { parseDecimal, parsePid } from './decimal.js';
import { quote, SockactError } from './errors.js';

/** SD_LISTEN_FDS_START: the first inherited fd (docs/protocol.md 4). */
export const LISTEN_FDS_START = 3;
/** INT_MAX - SD_LISTEN_FDS_START: the largest LISTEN_FDS libsystemd accepts (docs/protocol.md 3). */
export const MAX_LISTEN_FDS = 2 ** 31 - 1 - LISTEN_FDS_START;
/** Every variable sd_listen_fds(unset_environment=1) removes (docs/protocol.md 6, 10). */
export const LISTEN_ENV_VARS = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'LISTEN_PIDFDID'] as const;
/** The name every fd gets when LISTEN_FDNAMES is absent (docs/protocol.md 7). */
export const UNKNOWN_FD_NAME = 'unknown';

/** What LISTEN_* say, before any fd is looked at. */
export type ListenEnv =
  /** LISTEN_PID unset, or LISTEN_FDS unset: not socket-activated (docs/protocol.md 1, 3). */
  | { activated: false; reason: 'unset' }
  /** LISTEN_PID names another process: the fds were meant for it (docs/protocol.md 2). */
  | { activated: false; reason: 'other-pid'; pid: number }
  /**
   * `names` is undefined when LISTEN_FDNAMES is absent: every name is then "unknown" (not
   * materialised, since LISTEN_FDS may be as large as INT_MAX-3). See fdNameAt().
   */
  | { activated: true; pid: number; count: number; names?: readonly string[] };

/** The name of the i-th inherited fd (0-based): its LISTEN_FDNAMES entry, or "unknown". */
export function fdNameAt(env: { names?: readonly string[] }, i: number): string {
  return env.names ? env.names[i]! : UNKNOWN_FD_NAME;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parse LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES for the process `pid`, with the semantics of
 * sd_listen_fds_with_names() (docs/protocol.md 1-3, 7, 10) and no OS access:
 * - LISTEN_PID unset -> not activated, whatever LISTEN_FDS says; not a pid -> error; another
 *   pid -> not activated ('other-pid'), LISTEN_FDS left unchecked as libsystemd does.
 * - LISTEN_FDS unset -> not activated; otherwise plain decimal in 1..INT_MAX-3, or an error.
 *   Departure from libsystemd: "0x2", "010", " 2", "+2" are rejected (go-systemd agrees).
 * - LISTEN_FDNAMES split on ':' keeping empty names; a count other than LISTEN_FDS is an error
 *   (libsystemd: EINVAL); absent -> every name is "unknown" (`names` undefined).
 * - LISTEN_PIDFDID (systemd 258) is ignored: verifying it needs a pidfd inode id, which older
 *   kernels lack. LISTEN_PID already names this exact process; only pid reuse goes unchecked.
 * Throws SockactError (code ERR_LISTEN_ENV) naming the variable and the value.
 */
export function parseListenEnv(env: Env, pid: number): ListenEnv {
  const pidText = env.LISTEN_PID;
  if (pidText === undefined) return { activated: false, reason: 'unset' };
  const listenPid = parsePid('LISTEN_PID', pidText, 'ERR_LISTEN_ENV');
  if (listenPid !== pid) return { activated: false, reason: 'other-pid', pid: listenPid };

  const fdsText = env.LISTEN_FDS;
  if (fdsText === undefined) return { activated: false, reason: 'unset' };
  const count = parseDecimal('LISTEN_FDS', fdsText, `1..${MAX_LISTEN_FDS}`, 'ERR_LISTEN_ENV');
  if (count < 1) {
    throw new SockactError('ERR_LISTEN_ENV', `LISTEN_FDS must be at least 1: ${quote(fdsText)}`, {
      variable: 'LISTEN_FDS',
      value: fdsText,
      expected: `1..${MAX_LISTEN_FDS}`,
    });
  }
  if (count > MAX_LISTEN_FDS) {
    throw new SockactError('ERR_LISTEN_ENV', `LISTEN_FDS is too large: ${quote(fdsText)} (at most ${MAX_LISTEN_FDS})`, {
      variable: 'LISTEN_FDS',
      value: fdsText,
      expected: `1..${MAX_LISTEN_FDS}`,
    });
  }

  const namesText = env.LISTEN_FDNAMES;
  if (namesText === undefined) return { activated: true, pid, count };
  const names = namesText.split(':');
  if (names.length !== count) {
    throw new SockactError(
      'ERR_LISTEN_ENV',
      `LISTEN_FDNAMES has ${names.length} name${names.length === 1 ? '' : 's'} ` +
        `for ${count} fd${count === 1 ? '' : 's'}: ${quote(namesText)}`,
      { variable: 'LISTEN_FDNAMES', value: namesText, expected: `${count} names`, actual: `${names.length} names` },
    );
  }
  return { activated: true, pid, count, names };
}
