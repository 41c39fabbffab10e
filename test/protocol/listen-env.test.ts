import { describe, expect, it } from 'vitest';
import { SockactError } from '../../src/protocol/errors.js';
import { fdNameAt, MAX_LISTEN_FDS, parseListenEnv } from '../../src/protocol/listen-env.js';

const PID = 4242;
type Env = Record<string, string>;

describe('parseListenEnv: outcomes', () => {
  // [env, expected result, what the row proves]
  const rows: [Env, ReturnType<typeof parseListenEnv>, string][] = [
    [{}, { activated: false, reason: 'unset' }, 'nothing set: not activated'],
    [
      { LISTEN_FDS: '2' },
      { activated: false, reason: 'unset' },
      'LISTEN_PID unset wins over LISTEN_FDS (docs/protocol.md 1)',
    ],
    [
      { LISTEN_FDS: 'abc' },
      { activated: false, reason: 'unset' },
      'LISTEN_PID unset: LISTEN_FDS is not even looked at',
    ],
    [
      { LISTEN_PID: '1', LISTEN_FDS: '2' },
      { activated: false, reason: 'other-pid', pid: 1 },
      'another pid: meant for someone else (docs/protocol.md 2)',
    ],
    [
      { LISTEN_PID: '1', LISTEN_FDS: 'abc' },
      { activated: false, reason: 'other-pid', pid: 1 },
      "another pid: its LISTEN_FDS is not ours to judge (libsystemd doesn't)",
    ],
    [
      { LISTEN_PID: `${PID}` },
      { activated: false, reason: 'unset' },
      'our pid but LISTEN_FDS unset: 0 fds (docs/protocol.md 3)',
    ],
    [
      { LISTEN_PID: `${PID}`, LISTEN_FDS: '1' },
      { activated: true, pid: PID, count: 1 },
      'no LISTEN_FDNAMES: no names array (each is "unknown")',
    ],
    [
      { LISTEN_PID: `${PID}`, LISTEN_FDS: '3', LISTEN_FDNAMES: 'a::b' },
      { activated: true, pid: PID, count: 3, names: ['a', '', 'b'] },
      'empty names are kept',
    ],
    [
      { LISTEN_PID: `${PID}`, LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:web' },
      { activated: true, pid: PID, count: 2, names: ['web', 'web'] },
      'names need not be unique',
    ],
    [
      { LISTEN_PID: `${PID}`, LISTEN_FDS: '1', LISTEN_FDNAMES: '' },
      { activated: true, pid: PID, count: 1, names: [''] },
      'an empty LISTEN_FDNAMES is one empty name (libsystemd agrees)',
    ],
    [
      { LISTEN_PID: `${PID}`, LISTEN_FDS: '2', LISTEN_FDNAMES: ':' },
      { activated: true, pid: PID, count: 2, names: ['', ''] },
      '":" is two empty names (libsystemd agrees)',
    ],
    [
      { LISTEN_PID: `${PID}`, LISTEN_FDS: '1', LISTEN_PIDFDID: '12345' },
      { activated: true, pid: PID, count: 1 },
      'LISTEN_PIDFDID is ignored (docs/protocol.md 10)',
    ],
    [
      { LISTEN_PID: `${PID}`, LISTEN_FDS: `${MAX_LISTEN_FDS}` },
      { activated: true, pid: PID, count: MAX_LISTEN_FDS },
      'INT_MAX-3 is the largest count, and parsing it allocates nothing of that size',
    ],
  ];
  for (const [env, expected, proves] of rows) it(proves, () => expect(parseListenEnv(env, PID)).toEqual(expected));

  it('fdNameAt gives the LISTEN_FDNAMES entry, or "unknown" without names', () => {
    expect(fdNameAt({ names: ['a', '', 'b'] }, 1)).toBe('');
    expect(fdNameAt({}, 5)).toBe('unknown');
  });
});

describe('parseListenEnv: errors name the variable and the value', () => {
  // [env, exact message, what the row proves]
  const ours = (e: Env): Env => ({ LISTEN_PID: `${PID}`, ...e });
  const rows: [Env, string, string][] = [
    [ours({ LISTEN_FDS: 'abc' }), "LISTEN_FDS is not a number: 'abc'", 'letters are not a count'],
    [ours({ LISTEN_FDS: '-1' }), "LISTEN_FDS must be at least 1: '-1'", 'negative counts are EINVAL in libsystemd'],
    [
      ours({ LISTEN_FDS: '0' }),
      "LISTEN_FDS must be at least 1: '0'",
      'zero is EINVAL in libsystemd, not "not activated"',
    ],
    [
      ours({ LISTEN_FDS: '0x2' }),
      "LISTEN_FDS must be a plain decimal number: '0x2'",
      'hex passes libsystemd (base 0) but not sockact: documented departure',
    ],
    [
      ours({ LISTEN_FDS: '010' }),
      "LISTEN_FDS must be a plain decimal number: '010'",
      'a leading zero is octal 8 to libsystemd, 10 to go-systemd: ambiguous, rejected',
    ],
    [
      ours({ LISTEN_FDS: '+2' }),
      "LISTEN_FDS must be a plain decimal number: '+2'",
      'a sign passes strtol but is not plain decimal',
    ],
    [
      ours({ LISTEN_FDS: ' 2' }),
      "LISTEN_FDS must be a plain decimal number: ' 2'",
      'leading whitespace passes strtol but is not plain decimal',
    ],
    [ours({ LISTEN_FDS: '1 2' }), "LISTEN_FDS is not a number: '1 2'", 'two numbers are not one (libsystemd: EINVAL)'],
    [ours({ LISTEN_FDS: '' }), "LISTEN_FDS is not a number: ''", 'set but empty is not unset'],
    [
      ours({ LISTEN_FDS: '99999999999' }),
      "LISTEN_FDS is too large: '99999999999' (at most 2147483644)",
      'beyond INT_MAX-3',
    ],
    [
      ours({ LISTEN_FDS: `${MAX_LISTEN_FDS + 1}` }),
      `LISTEN_FDS is too large: '${MAX_LISTEN_FDS + 1}' (at most 2147483644)`,
      'INT_MAX-2 is one too many',
    ],
    [
      { LISTEN_PID: 'garbage', LISTEN_FDS: '1' },
      "LISTEN_PID is not a number: 'garbage'",
      'a garbage pid is an error, not "not activated" (docs/protocol.md 2)',
    ],
    [
      { LISTEN_PID: '', LISTEN_FDS: '1' },
      "LISTEN_PID is not a number: ''",
      'an empty pid is an error (libsystemd: EINVAL)',
    ],
    [
      { LISTEN_PID: '0', LISTEN_FDS: '1' },
      "LISTEN_PID is not a process id: '0'",
      'pid 0 is not a process (libsystemd: ERANGE)',
    ],
    [{ LISTEN_PID: '-1', LISTEN_FDS: '1' }, "LISTEN_PID is not a process id: '-1'", 'negative pids are not processes'],
    [
      { LISTEN_PID: '2147483648', LISTEN_FDS: '1' },
      "LISTEN_PID is not a process id: '2147483648'",
      'pids fit in a 32-bit int',
    ],
    [
      { LISTEN_PID: '0123', LISTEN_FDS: '1' },
      "LISTEN_PID must be a plain decimal number: '0123'",
      'the same plain-decimal rule for pids',
    ],
    [
      ours({ LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b:c' }),
      "LISTEN_FDNAMES has 3 names for 2 fds: 'a:b:c'",
      'too many names: EINVAL in libsystemd',
    ],
    [
      ours({ LISTEN_FDS: '3', LISTEN_FDNAMES: 'a' }),
      "LISTEN_FDNAMES has 1 name for 3 fds: 'a'",
      'too few names: EINVAL in libsystemd',
    ],
    [
      ours({ LISTEN_FDS: '1', LISTEN_FDNAMES: 'a:' }),
      "LISTEN_FDNAMES has 2 names for 1 fd: 'a:'",
      'a trailing ":" is one more (empty) name',
    ],
  ];
  for (const [env, message, proves] of rows) {
    it(proves, () => {
      let caught: unknown;
      try {
        parseListenEnv(env, PID);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SockactError);
      const e = caught as SockactError;
      expect(e.message).toBe(message);
      expect(e.code).toBe('ERR_LISTEN_ENV');
      expect(env[e.variable!]).toBe(e.value);
    });
  }
});
