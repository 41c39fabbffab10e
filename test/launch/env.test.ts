import { describe, expect, it } from 'vitest';
import { activationEnv, parseSetenv, STALE_VARIABLES } from '../../src/launch/env.js';

describe('parseSetenv', () => {
  it.each<[string[], Record<string, string>]>([
    // NAME=VALUE sets; the value may contain '='.
    [['A=1', 'B=x=y'], { A: '1', B: 'x=y' }],
    // NAME alone copies the launcher's own value...
    [['HOME_X'], { HOME_X: '/home/x' }],
    // ...and is set empty when the launcher has none (systemd-socket-activate 252 passes UNSET_HERE=).
    [['UNSET_HERE'], { UNSET_HERE: '' }],
    // An empty value is a value.
    [['E='], { E: '' }],
    // NOTIFY_SOCKET can be passed on on purpose, although it is stripped by default.
    [['NOTIFY_SOCKET'], { NOTIFY_SOCKET: '/run/n' }],
    // So can WATCHDOG_USEC; WATCHDOG_PID then comes from the trampoline (docs/protocol.md 25).
    [['WATCHDOG_USEC'], { WATCHDOG_USEC: '5000000' }],
    // Later ones win.
    [['A=1', 'A=2'], { A: '2' }],
  ])('%j', (values, expected) => {
    expect(parseSetenv(values, { HOME_X: '/home/x', NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '5000000' })).toEqual(
      expected,
    );
  });

  it.each<[string, string]>([
    ['1A=x', "-E '1A=x': '1A' is not a variable name"],
    ['=x', "-E '=x': '' is not a variable name"],
    ['LISTEN_FDS=3', "-E 'LISTEN_FDS=3': sockact sets LISTEN_FDS itself"],
    ['LISTEN_PID', "-E 'LISTEN_PID': sockact sets LISTEN_PID itself"],
    // The program's own pid whenever it gets WATCHDOG_USEC; sockact's own would switch its watchdog off.
    ['WATCHDOG_PID', "-E 'WATCHDOG_PID': sockact sets WATCHDOG_PID itself"],
    ['WATCHDOG_PID=1', "-E 'WATCHDOG_PID=1': sockact sets WATCHDOG_PID itself"],
  ])('rejects %s as a usage error', (value, message) => {
    expect(() => parseSetenv([value], {})).toThrow(expect.objectContaining({ code: 'ERR_USAGE', exitCode: 2 }));
    expect(() => parseSetenv([value], {})).toThrow(message);
  });
});

describe('activationEnv', () => {
  const stale = Object.fromEntries(STALE_VARIABLES.map((k) => [k, 'stale']));

  it('removes every stale activation variable and sets LISTEN_FDS and LISTEN_FDNAMES', () => {
    const env = activationEnv({ base: { ...stale, PATH: '/bin', KEEP: 'k' }, count: 2, names: ['web', ''] });
    expect(env).toEqual({ PATH: '/bin', KEEP: 'k', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:' });
  });

  it('leaves LISTEN_FDNAMES out without names, and LISTEN_* out entirely with no fds (inetd)', () => {
    expect(activationEnv({ base: { ...stale }, count: 1 })).toEqual({ LISTEN_FDS: '1' });
    expect(activationEnv({ base: { ...stale, A: 'a' }, count: 0, setenv: { B: 'b' } })).toEqual({ A: 'a', B: 'b' });
  });

  it(
    'keeps a WATCHDOG_USEC from setenv but never a WATCHDOG_PID, ' + 'from the base or setenv: the trampoline sets it',
    () => {
      const env = activationEnv({
        base: { ...stale },
        count: 0,
        setenv: { WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' },
      });
      expect(env).toEqual({ WATCHDOG_USEC: '1000000' });
    },
  );

  it('refuses a name count other than the fd count, which libsystemd would reject', () => {
    expect(() => activationEnv({ base: {}, count: 2, names: ['a'] })).toThrow(
      expect.objectContaining({ code: 'ERR_FDNAMES', exitCode: 2 }),
    );
    expect(() => activationEnv({ base: {}, count: 2, names: ['a'] })).toThrow('1 fd names for 2 fds');
  });
});
