// 0 means "off" for the supervisor's timeouts and its watchdog, as in systemd.service(5):
// TimeoutStartSec=0 and TimeoutStopSec=0 are infinity, WatchdogSec=0 (or infinity) is no watchdog.
// Under virtual time: the timers that 0 used to arm at once are never armed, or never fire.
import { describe, expect, it } from 'vitest';
import { Supervisor, type SupervisorOptions } from '../../src/supervise/supervisor.js';
import { FakeClock, FakeSeam, flush } from './fakes.js';

/** Far longer than any default timer (90s, 30s): a day of virtual time. */
const A_DAY = 86_400_000;

function setup(opts: Partial<SupervisorOptions>) {
  const clock = new FakeClock();
  const seam = new FakeSeam();
  const lines: string[] = [];
  const sup = new Supervisor({ ready: 'notify', ...opts }, seam, clock, (l) => lines.push(l));
  let ended: Awaited<typeof sup.done> | undefined;
  void sup.done.then((e) => (ended = e));
  return { clock, seam, lines, sup, ended: () => ended };
}

describe('Supervisor: 0 and infinity switch a limit off', () => {
  it.each([0, Infinity])('--ready-timeout %s: a child that takes a day to be ready is waited for', (readyTimeout) => {
    const { seam, sup, clock, lines } = setup({ readyTimeout });
    sup.start();
    const c = seam.last();
    clock.advance(A_DAY);
    expect(c.signals).toEqual([]);
    c.ready();
    expect(sup.phase).toBe('running');
    expect(lines.filter((l) => l.includes('not ready within'))).toEqual([]);
  });

  it.each([0, Infinity])('--stop-timeout %s: a child that drains for a day is never SIGKILLed', async (stopTimeout) => {
    const { seam, sup, clock, ended } = setup({ stopTimeout });
    sup.start();
    const c = seam.last();
    c.ready();
    c.onSignal = () => {}; // drains: exits when it is done
    sup.stop();
    clock.advance(A_DAY);
    expect(c.signals).toEqual(['SIGTERM']);
    c.exit({ code: 0, signal: null });
    await flush();
    expect(ended()).toEqual({ status: { code: 0, signal: null } });
  });

  it.each([0, Infinity])(
    '--watchdog-sec %s: no WATCHDOG_USEC, and a child that never pings is left alone',
    (watchdog) => {
      const { seam, sup, clock } = setup({ watchdog, restart: 'on-failure' });
      sup.start();
      const c = seam.last();
      expect(c.request.env.WATCHDOG_USEC).toBeUndefined();
      c.ready();
      clock.advance(A_DAY);
      expect(c.signals).toEqual([]);
      expect(clock.pending).toBe(0);
    },
  );

  it('a finite watchdog still fires (the test above is not vacuous)', () => {
    const { seam, sup, clock } = setup({ watchdog: 1000 });
    sup.start();
    seam.last().ready();
    clock.advance(A_DAY);
    expect(seam.children[0]!.signals).toEqual(['SIGABRT']);
  });
});
