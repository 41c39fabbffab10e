import { describe, expect, it } from 'vitest';
import { SockactError } from '../../src/protocol/errors.js';
import { parseWatchdogEnv } from '../../src/protocol/watchdog-env.js';

const PID = 777;

describe('parseWatchdogEnv (sd_watchdog_enabled)', () => {
  // [env, interval in usec, what the row proves]
  const rows: [Record<string, string>, number, string][] = [
    [{}, 0, 'no WATCHDOG_USEC: off'],
    [{ WATCHDOG_USEC: '30000000' }, 30_000_000, 'WATCHDOG_PID unset: on for us'],
    [{ WATCHDOG_USEC: '30000000', WATCHDOG_PID: `${PID}` }, 30_000_000, 'WATCHDOG_PID is ours: on'],
    [{ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' }, 0, 'WATCHDOG_PID is another process: off (docs/protocol.md 22)'],
    [{ WATCHDOG_USEC: '0' }, 0, '0 means off (libsystemd says EINVAL; documented departure)'],
    [{ WATCHDOG_PID: `${PID}` }, 0, 'a pid without an interval: off'],
  ];
  for (const [env, usec, proves] of rows) it(proves, () => expect(parseWatchdogEnv(env, PID)).toBe(usec));

  // [env, exact message, what the row proves]
  const bad: [Record<string, string>, string, string][] = [
    [{ WATCHDOG_USEC: 'soon' }, "WATCHDOG_USEC is not a number: 'soon'", 'letters'],
    [{ WATCHDOG_USEC: '30s' }, "WATCHDOG_USEC is not a number: '30s'", 'units are not microseconds'],
    [{ WATCHDOG_USEC: '-5' }, "WATCHDOG_USEC is out of range: '-5'", 'negative'],
    [
      { WATCHDOG_USEC: '18446744073709551615' },
      "WATCHDOG_USEC is out of range: '18446744073709551615'",
      'USEC_INFINITY (libsystemd: EINVAL)',
    ],
    [{ WATCHDOG_USEC: '1000', WATCHDOG_PID: 'me' }, "WATCHDOG_PID is not a number: 'me'", 'a garbage pid'],
  ];
  for (const [env, text, proves] of bad) {
    it(`rejects: ${proves}`, () => {
      expect(() => parseWatchdogEnv(env, PID)).toThrow(SockactError);
      expect(() => parseWatchdogEnv(env, PID)).toThrow(text);
    });
  }
});
