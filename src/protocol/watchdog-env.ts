import { parseDecimal, parsePid } from './decimal.js';
import { quote, SockactError } from './errors.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * sd_watchdog_enabled() without the OS (docs/protocol.md 22): the watchdog interval in microseconds when
 * WATCHDOG_USEC > 0 and WATCHDOG_PID is unset or `pid`, else 0. Malformed values throw
 * SockactError (ERR_WATCHDOG_ENV) naming the variable. Departure from libsystemd, which answers
 * EINVAL for WATCHDOG_USEC=0: here 0 means off (systemd never sets it; a person might).
 */
export function parseWatchdogEnv(env: Env, pid: number): number {
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined) return 0;
  const usec = parseDecimal('WATCHDOG_USEC', usecText, 'microseconds', 'ERR_WATCHDOG_ENV');
  if (usec < 0 || !Number.isSafeInteger(usec)) {
    throw new SockactError('ERR_WATCHDOG_ENV', `WATCHDOG_USEC is out of range: ${quote(usecText)}`, {
      variable: 'WATCHDOG_USEC',
      value: usecText,
      expected: 'microseconds',
    });
  }
  if (usec === 0) return 0;
  const pidText = env.WATCHDOG_PID;
  if (pidText === undefined) return usec;
  return parsePid('WATCHDOG_PID', pidText, 'ERR_WATCHDOG_ENV') === pid ? usec : 0;
}
