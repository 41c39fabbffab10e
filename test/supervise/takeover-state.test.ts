// The takeover state machine under virtual time: a real Supervisor over the fake clock and seam,
// a scripted session with the old sockact. Each transition, a failed takeover, a stop during one,
// and the old side's refusals and retirement. The end-to-end tests are in takeover.test.ts.
import { describe, expect, it } from 'vitest';
import { REPEATED_STOP_MS, Supervisor, type Ending, type SupervisorOptions } from '../../src/supervise/supervisor.js';
import type { TakeoverSession } from '../../src/supervise/takeover.js';
import { Takeover, type TakeoverOptions } from '../../src/supervise/takeover-state.js';
import type { TakeoverOffer } from '../../src/supervise/control.js';
import { FakeClock, FakeSeam, FakeUpstream, flush } from './fakes.js';

/** The old sockact's side of the session, as the new one sees it. */
class FakeSession implements TakeoverSession {
  readonly path = '/run/sockact/web.sock';
  readonly oldPid = 4242;
  readonly upstreamEnv = undefined;
  abandoned = 0;
  retired = 0;
  refuse: Error | undefined;
  close!: () => void;
  readonly closed = new Promise<void>((r) => (this.close = r));
  constructor(readonly startedAt: number) {}
  async retire(): Promise<void> {
    this.retired++;
    if (this.refuse) throw this.refuse;
  }
  abandon(): void {
    this.abandoned++;
  }
}

function setup(opts: { session?: boolean; fds?: number[]; supervisor?: Partial<SupervisorOptions> } = {}) {
  const clock = new FakeClock();
  const seam = new FakeSeam(clock);
  const systemd = new FakeUpstream();
  const daemon = new FakeUpstream();
  const lines: string[] = [];
  const warnings: string[] = [];
  const moved: string[] = [];
  const session = opts.session === false ? undefined : new FakeSession(clock.now());
  const o: TakeoverOptions = {
    session,
    clock,
    systemd,
    others: [daemon],
    fds: opts.fds ?? [3],
    names: ['web'],
    offerMessage: () => '{"pid":1}',
    moveControl: (path) => moved.push(path),
    log: (l) => lines.push(l),
    warn: (l) => warnings.push(l),
  };
  const takeover = new Takeover(o);
  const log = (l: string) => lines.push(l);
  const options = { ready: 'notify' as const, stopTimeout: 1000, ...opts.supervisor };
  const sup = new Supervisor(options, takeover.seam(seam), clock, log, takeover.upstream());
  takeover.attach(sup);
  let ended: Ending | undefined;
  void sup.done.then((e) => (ended = takeover.ending(e)));
  return { clock, seam, systemd, daemon, lines, warnings, moved, session, takeover, sup, ended: () => ended };
}

describe('Takeover: the new sockact', () => {
  it('pending -> committed on READY=1: control path, MAINPID= to systemd, old one told to retire', async () => {
    const { clock, seam, systemd, daemon, lines, moved, session, takeover, sup } = setup();
    sup.start();
    expect(takeover.phase).toBe('pending');
    clock.advance(420);
    seam.last().ready();
    expect(takeover.phase).toBe('committed');
    expect(moved).toEqual(['/run/sockact/web.sock']);
    const status = `ready, generation 1 (pid ${seam.last().pid})`;
    expect(systemd.sent).toEqual([{ MAINPID: String(process.pid), READY: '1', STATUS: status }]);
    expect(daemon.sent).toEqual([]); // the supervisor's own READY=1 went into the commit
    expect(lines).toContain('children ready 420 ms after the takeover began: telling pid 4242 to retire');
    await flush();
    expect(session!.retired).toBe(1);
    clock.advance(80);
    session!.close();
    await flush();
    expect(lines.at(-1)).toBe('pid 4242 exited: takeover done in 500 ms');
    expect(takeover.failed).toBe(false);
    // Committed: what the supervisor says now reaches everyone.
    void sup.reload();
    expect(systemd.kinds.at(-1)).toBe('RELOADING');
    expect(daemon.kinds.at(-1)).toBe('RELOADING');
  });

  it('says nothing upstream while pending (no STOPPING=1 for a failed takeover)', async () => {
    const { seam, systemd, daemon, sup, ended, session } = setup();
    sup.start();
    seam.last().exit({ code: 1, signal: null });
    await flush();
    expect(systemd.sent).toEqual([]);
    expect(daemon.sent).toEqual([]);
    expect(ended()).toEqual({
      status: { code: 1, signal: null },
      reason: 'takeover failed: pid 100 exited with code 1 before it was ready; pid 4242 keeps serving',
    });
    expect(session!.abandoned).toBeGreaterThanOrEqual(1);
  });

  it('pending -> failed when a child ends before all are ready; the reason has its last words', async () => {
    const { seam, sup, takeover, ended } = setup({ supervisor: { workers: 2 } });
    sup.start();
    const [a, b] = seam.children;
    a!.ready();
    b!.exit({ code: 1, signal: null, lastLine: 'Error: boom' });
    expect(takeover.phase).toBe('failed');
    expect(takeover.failure).toBe('pid 101 exited with code 1 before it was ready: its last words were "Error: boom"');
    expect(a!.signals).toEqual(['SIGTERM']);
    await flush();
    const why = 'pid 101 exited with code 1 before it was ready: its last words were "Error: boom"';
    expect(ended()?.reason).toBe(`takeover failed: ${why}; pid 4242 keeps serving`);
    expect(takeover.failed).toBe(true);
  });

  it('a stop during the takeover fails it: the old sockact keeps serving', async () => {
    const { seam, sup, takeover, ended, session } = setup();
    sup.start();
    sup.stop();
    await flush();
    expect(seam.last().gone).toBe(true);
    expect(takeover.phase).toBe('pending'); // never committed, never failed by a child
    expect(ended()).toEqual({
      status: { code: 1, signal: null },
      reason: 'takeover failed: sockact was stopped before its children were ready; pid 4242 keeps serving',
    });
    expect(session!.abandoned).toBe(1);
    expect(session!.retired).toBe(0);
  });

  it('a failed takeover stops sockact on its own account: a stop from outside then is not a second stop', () => {
    const { seam, sup, clock } = setup({ supervisor: { workers: 2 } });
    sup.start();
    const [a, b] = seam.children;
    a!.onSignal = () => {};
    b!.exit({ code: 1, signal: null }); // fails the takeover: sockact stops itself
    clock.advance(REPEATED_STOP_MS);
    sup.stop(); // then SIGTERM from outside, past the repeated-signal window: the first stop asked for
    expect(a!.signals).toEqual(['SIGTERM']);
    clock.advance(1000 - REPEATED_STOP_MS);
    expect(a!.signals).toEqual(['SIGTERM', 'SIGKILL']);
  });

  it('an old sockact that will not retire: a warning, and the new one serves anyway', async () => {
    const { seam, sup, session, warnings, takeover } = setup();
    session!.refuse = new Error('pid 4242 refused to retire');
    sup.start();
    seam.last().ready();
    await flush();
    expect(warnings).toEqual(['pid 4242 refused to retire; serving anyway']);
    expect(takeover.phase).toBe('committed');
    expect(sup.phase).toBe('running');
  });

  it('a control socket that cannot move is a warning, not a failure', () => {
    const { seam, sup, warnings, takeover } = setup();
    const t = takeover as unknown as { o: TakeoverOptions };
    t.o.moveControl = () => {
      throw new Error('EACCES');
    };
    sup.start();
    seam.last().ready();
    expect(warnings).toEqual(["can't move the control socket to /run/sockact/web.sock: EACCES"]);
    expect(takeover.phase).toBe('committed');
  });
});

describe('Takeover: the old sockact', () => {
  function running(opts: Parameters<typeof setup>[0] = {}) {
    const s = setup({ session: false, ...opts });
    s.sup.start();
    s.seam.last().ready();
    return s;
  }

  it('hands over its sockets, and retires as on a stop once told to: it ends with 0, silent upstream', async () => {
    const { takeover, systemd, lines, ended } = running({ fds: [3, 4] });
    const offer = takeover.handover(777) as TakeoverOffer;
    expect(offer).toEqual(expect.objectContaining({ fds: [3, 4], names: ['web'], message: '{"pid":1}' }));
    expect(lines).toContain('pid 777 is taking over: handing it 2 sockets');
    const before = systemd.sent.length;
    offer.retire([1]);
    expect(takeover.retiring).toBe(true);
    expect([...takeover.handedOver]).toEqual([4]);
    expect(lines).toContain('pid 777 took over 1 of 2 sockets and serves: retiring');
    await flush();
    expect(systemd.sent.length).toBe(before); // no STOPPING=1: the unit is the new sockact's now
    expect(ended()).toEqual({ status: { code: 0, signal: null } });
  });

  it('refuses a second taker, one while not running, while retiring, and with no sockets', () => {
    const s = running();
    expect(s.takeover.handover(1)).toEqual(expect.objectContaining({ fds: [3] }));
    expect(s.takeover.handover(2)).toBe('pid 1 is taking over already');
    const none = running({ fds: [] });
    expect(none.takeover.handover(3)).toBe('it holds no sockets to hand over (--inetd)');
    const starting = setup({ session: false });
    starting.sup.start();
    expect(starting.takeover.handover(4)).toBe('it is starting');
    // Running while still taking over cannot come about (READY=1 commits): set by hand.
    const mid = setup();
    mid.sup.start();
    mid.sup.phase = 'running';
    expect(mid.takeover.handover(5)).toBe('it is taking over from another sockact itself');
  });

  it('a taker that gives up leaves it serving, ready for the next one; once retiring it refuses', () => {
    const { takeover, lines } = running();
    const offer = takeover.handover(10) as TakeoverOffer;
    offer.abandoned();
    expect(lines).toContain('pid 10 gave up taking over: serving on');
    const again = takeover.handover(11) as TakeoverOffer;
    again.retire([0]);
    expect(takeover.handover(12)).toBe('it is retiring already');
  });
});
