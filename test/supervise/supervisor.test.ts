import { describe, expect, it } from 'vitest';
import {
  AUTO_FALLBACK_MS,
  AUTO_PROBE_MS,
  REPEATED_STOP_MS,
  Supervisor,
  type SupervisorOptions,
} from '../../src/supervise/supervisor.js';
import { FakeClock, FakeSeam, FakeUpstream, flush } from './fakes.js';

function setup(opts: Partial<SupervisorOptions> = {}) {
  const clock = new FakeClock();
  const seam = new FakeSeam(clock);
  const upstream = new FakeUpstream();
  const lines: string[] = [];
  const sup = new Supervisor({ ready: 'notify', ...opts }, seam, clock, (l) => lines.push(l), upstream);
  let ended: Awaited<typeof sup.done> | undefined;
  void sup.done.then((e) => (ended = e));
  return { clock, seam, upstream, lines, sup, ended: () => ended };
}

describe('Supervisor: start and plain launch', () => {
  it('is running once every worker is ready, and tells systemd READY=1 once', async () => {
    const { seam, sup, upstream } = setup({ workers: 2 });
    sup.start();
    expect(seam.children.map((c) => c.request.env.SOCKACT_WORKER)).toEqual(['0', '1']);
    seam.children[0]!.ready();
    expect(sup.phase).toBe('starting');
    expect(upstream.kinds).toEqual([]);
    seam.children[1]!.ready();
    expect(sup.phase).toBe('running');
    expect(upstream.sent).toEqual([{ READY: '1', STATUS: '2 of 2 workers ready, generation 1' }]);
  });

  it('a plain launch (restart=no, one worker) ends as its program did', async () => {
    const { seam, sup, ended } = setup();
    sup.start();
    seam.last().ready();
    seam.last().exit({ code: 3, signal: null });
    await flush();
    expect(ended()).toEqual({ status: { code: 3, signal: null } });
  });

  it('a program that cannot start ends a plain launch with the reason', async () => {
    const { seam, sup, ended, lines } = setup();
    sup.start();
    seam.last().exit({ code: null, signal: null, startFailure: 'no such file or directory' });
    await flush();
    expect(ended()?.status.startFailure).toBe('no such file or directory');
    expect(lines.some((l) => l.includes('could not start'))).toBe(false); // the CLI says it, once
  });

  it('stop sends the stop signal, SIGKILL after the stop timeout, and a plain launch ends like the child', async () => {
    const { seam, sup, clock, ended } = setup({ stopTimeout: 5000 });
    sup.start();
    const c = seam.last();
    c.ready();
    c.onSignal = () => {}; // ignores SIGTERM
    sup.stop();
    expect(c.signals).toEqual(['SIGTERM']);
    clock.advance(4999);
    expect(c.signals).toEqual(['SIGTERM']);
    clock.advance(1);
    expect(c.signals).toEqual(['SIGTERM', 'SIGKILL']);
    await flush();
    expect(ended()).toEqual({ status: { code: null, signal: 'SIGKILL' } });
  });

  it('a second stop kills at once (a second Ctrl-C)', () => {
    const { seam, sup, clock } = setup();
    sup.start();
    const c = seam.last();
    c.ready();
    c.onSignal = () => {};
    sup.stop('SIGINT');
    clock.advance(REPEATED_STOP_MS);
    sup.stop('SIGINT');
    expect(c.signals).toEqual(['SIGINT', 'SIGKILL']);
  });

  it(
    'the same stop signal twice within REPEATED_STOP_MS is one Ctrl-C ' +
      '(the process group and npm both deliver it); another signal still kills',
    () => {
      const { seam, sup, clock } = setup();
      sup.start();
      const c = seam.last();
      c.ready();
      c.onSignal = () => {};
      sup.stop('SIGINT');
      clock.advance(REPEATED_STOP_MS - 1);
      sup.stop('SIGINT');
      expect(c.signals).toEqual(['SIGINT']);
      sup.stop('SIGTERM');
      expect(c.signals).toEqual(['SIGINT', 'SIGKILL']);
    },
  );

  it('a supervisor with restarts ends with 0 when asked to stop', async () => {
    const { seam, sup, ended, upstream } = setup({ restart: 'always' });
    sup.start();
    seam.last().ready();
    sup.stop();
    await flush();
    expect(ended()).toEqual({ status: { code: 0, signal: null } });
    expect(upstream.kinds).toEqual(['READY', 'STOPPING']);
  });
});

describe('Supervisor: reload', () => {
  it('starts the new generation first and stops the old one only once the new one is ready', async () => {
    const { seam, sup, upstream, clock } = setup();
    sup.start();
    const old = seam.last();
    old.ready();
    clock.advance(1000);
    const outcome = sup.reload();
    const fresh = seam.last();
    expect(fresh).not.toBe(old);
    expect(fresh.request.generation).toBe(2);
    expect(old.signals).toEqual([]);
    clock.advance(94);
    fresh.ready();
    expect(old.signals).toEqual(['SIGTERM']);
    expect(await outcome).toEqual({ ok: true, message: 'generation 2 ready in 94 ms', generation: 2 });
    expect(sup.slots[0]).toBe(sup.live.find((w) => w.pid === fresh.pid));
    // systemd sees RELOADING=1 with MONOTONIC_USEC, then READY=1
    expect(upstream.kinds).toEqual(['READY', 'RELOADING', 'READY']);
    expect(upstream.sent[1]!.MONOTONIC_USEC).toBe(String(1000 * 1000));
  });

  it('rolls back when the new generation exits before it is ready: the old one keeps serving', async () => {
    const { seam, sup, upstream, lines } = setup();
    sup.start();
    const old = seam.last();
    old.ready();
    const outcome = sup.reload();
    seam.last().exit({ code: 1, signal: null });
    const o = await outcome;
    expect(o.ok).toBe(false);
    expect(o.message).toBe(
      'reload failed: pid 101 (generation 2) exited with code 1 before it was ready; generation 1 keeps serving',
    );
    expect(old.signals).toEqual([]);
    expect(sup.phase).toBe('running');
    expect(lines).toContain(o.message);
    expect(upstream.kinds).toEqual(['READY', 'RELOADING', 'READY']);
    expect(upstream.sent[2]!.STATUS).toMatch(/last reload failed/);
    expect(sup.failedReloads).toBe(1);
  });

  it('rolls back when the new generation is not ready within the ready timeout', async () => {
    const { seam, sup, clock } = setup({ readyTimeout: 2000 });
    sup.start();
    const old = seam.last();
    old.ready();
    const outcome = sup.reload();
    const fresh = seam.last();
    clock.advance(2000);
    expect(fresh.signals).toEqual(['SIGTERM']);
    const o = await outcome;
    expect(o.ok).toBe(false);
    expect(o.message).toBe(
      'reload failed: pid 101 (generation 2) killed by SIGTERM: ' +
        'it was not ready within 2.0 s; generation 1 keeps serving',
    );
    expect(old.gone).toBe(false);
  });

  it('EXTEND_TIMEOUT_USEC gives a slow new generation more time', async () => {
    const { seam, sup, clock } = setup({ readyTimeout: 2000 });
    sup.start();
    seam.last().ready();
    const outcome = sup.reload();
    const fresh = seam.last();
    clock.advance(1500);
    fresh.notify('EXTEND_TIMEOUT_USEC=5000000');
    clock.advance(4000);
    expect(fresh.signals).toEqual([]);
    fresh.ready();
    expect((await outcome).ok).toBe(true);
  });

  it('reloads asked for during a reload coalesce into one more', async () => {
    const { seam, sup } = setup();
    sup.start();
    seam.last().ready();
    const first = sup.reload();
    const during = [sup.reload(), sup.reload(), sup.reload()];
    expect(seam.children).toHaveLength(2); // one reload at a time
    seam.last().ready();
    expect((await first).generation).toBe(2);
    expect(seam.children).toHaveLength(3); // exactly one more
    seam.last().ready();
    const outcomes = await Promise.all(during);
    expect(outcomes.map((o) => o.generation)).toEqual([3, 3, 3]);
    expect(seam.alive).toHaveLength(1);
    expect(sup.live).toHaveLength(1);
  });

  it(
    'a storm with every third new generation failing leaves ' + 'exactly one serving generation and nothing pending',
    async () => {
      const { seam, sup, clock } = setup({ restart: 'on-failure' });
      let n = 0;
      seam.onSpawn = (c) => {
        if (c.request.generation === 1) return;
        // every third one fails at start, the others are ready 30 ms later
        if (++n % 3 === 0) queueMicrotask(() => c.exit({ code: 1, signal: null }));
        else clock.setTimer(30, () => c.ready());
      };
      sup.start();
      seam.last().ready();
      const all: Promise<unknown>[] = [];
      for (let i = 0; i < 50; i++) {
        all.push(sup.reload());
        clock.advance(10);
        await flush();
      }
      for (let i = 0; i < 20; i++) {
        clock.advance(100);
        await flush();
      }
      await Promise.all(all);
      expect(seam.alive).toHaveLength(1);
      expect(sup.live).toHaveLength(1);
      expect(sup.reloadInProgress).toBe(false);
      expect(sup.slots[0]?.state).toBe('ready');
      expect(clock.pending).toBe(0); // no timer left behind
    },
  );

  it('stop during a reload stops both generations and cancels the reload', async () => {
    const { seam, sup, ended } = setup({ restart: 'always' });
    sup.start();
    seam.last().ready();
    const outcome = sup.reload();
    sup.stop();
    expect((await outcome).message).toBe('reload cancelled: sockact is stopping');
    expect(seam.alive).toHaveLength(0);
    await flush();
    expect(ended()).toEqual({ status: { code: 0, signal: null } });
    expect(sup.failedReloads).toBe(0);
  });

  it('a reload asked for while the first generation starts runs once it is ready', async () => {
    const { seam, sup } = setup();
    sup.start();
    const r = sup.reload();
    expect(seam.children).toHaveLength(1);
    seam.last().ready();
    expect(seam.children).toHaveLength(2);
    seam.last().ready();
    expect((await r).ok).toBe(true);
  });

  it('--reload-signal passes the signal to the program instead', async () => {
    const { seam, sup, upstream } = setup({ reloadSignal: 'SIGUSR2' });
    sup.start();
    const c = seam.last();
    c.onSignal = () => {};
    c.ready();
    expect((await sup.reload()).ok).toBe(true);
    expect(c.signals).toEqual(['SIGUSR2']);
    expect(seam.children).toHaveLength(1);
    expect(upstream.kinds).toEqual(['READY', 'RELOADING', 'READY']);
  });

  it('with restart=no, a reload keeps the supervisor going after the old generation is gone', async () => {
    const { seam, sup, ended } = setup();
    sup.start();
    const old = seam.last();
    old.ready();
    const r = sup.reload();
    seam.last().ready();
    await r;
    expect(old.gone).toBe(true);
    await flush();
    expect(ended()).toBeUndefined();
  });
});

describe('Supervisor: workers', () => {
  it('reloads all workers at once by default: old ones stop only when every new one is ready', async () => {
    const { seam, sup } = setup({ workers: 2 });
    sup.start();
    for (const c of seam.children) c.ready();
    const r = sup.reload();
    const [a, b] = seam.children.slice(2);
    expect(seam.alive).toHaveLength(4);
    a!.ready();
    expect(seam.children[0]!.signals).toEqual([]);
    b!.ready();
    expect(seam.children[0]!.signals).toEqual(['SIGTERM']);
    expect(seam.children[1]!.signals).toEqual(['SIGTERM']);
    expect((await r).ok).toBe(true);
  });

  it('--rolling replaces one worker at a time (at most N+1 processes)', async () => {
    const { seam, sup } = setup({ workers: 3, rolling: true });
    sup.start();
    for (const c of seam.children) c.ready();
    const r = sup.reload();
    let most = 0;
    for (let i = 0; i < 3; i++) {
      most = Math.max(most, seam.alive.length);
      expect(seam.last().request.worker).toBe(i);
      seam.last().ready();
      expect(seam.children[i]!.gone).toBe(true);
    }
    expect(most).toBe(4);
    expect((await r).ok).toBe(true);
    expect(sup.slots.map((w) => w?.generation)).toEqual([2, 2, 2]);
  });

  it('a worker that crashes is restarted alone; the others keep serving', () => {
    const { seam, sup, clock } = setup({ workers: 2, restart: 'on-failure' });
    sup.start();
    for (const c of seam.children) c.ready();
    seam.children[1]!.exit({ code: null, signal: 'SIGSEGV' });
    clock.advance(100);
    expect(seam.children).toHaveLength(3);
    expect(seam.last().request.worker).toBe(1);
    expect(seam.children[0]!.gone).toBe(false);
    expect(sup.restarts).toBe(1);
  });
});

describe('Supervisor: restarts', () => {
  it('on-failure restarts a failed child after a delay that doubles, not a clean exit', async () => {
    const { seam, sup, clock, ended } = setup({ restart: 'on-failure', restartDelay: 100, startLimitBurst: 10 });
    sup.start();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      seam.last().ready();
      const at = clock.now();
      const count = seam.children.length;
      seam.last().exit({ code: 1, signal: null });
      while (seam.children.length === count) clock.advance(1);
      delays.push(clock.now() - at);
    }
    expect(delays).toEqual([100, 200, 400, 800]);
    seam.last().ready();
    seam.last().exit({ code: 0, signal: null });
    clock.advance(10_000);
    await flush();
    expect(ended()).toEqual({ status: { code: 0, signal: null } });
  });

  it('the delay starts over after a worker stayed up for the start-limit interval', () => {
    const { seam, sup, clock } = setup({ restart: 'always', restartDelay: 100, startLimitInterval: 10_000 });
    sup.start();
    seam.last().ready();
    seam.last().exit({ code: 1, signal: null });
    clock.advance(100);
    seam.last().ready();
    clock.advance(10_000);
    const count = seam.children.length;
    seam.last().exit({ code: 1, signal: null });
    clock.advance(99);
    expect(seam.children).toHaveLength(count);
    clock.advance(1);
    expect(seam.children).toHaveLength(count + 1);
  });

  it('gives up past the start limit, naming the last exit status and the cause', async () => {
    const { seam, sup, clock, ended } = setup({
      restart: 'always',
      startLimitBurst: 3,
      startLimitInterval: 10_000,
      ready: 'auto',
    });
    seam.onSpawn = (c) =>
      queueMicrotask(() =>
        c.exit({ code: 1, signal: null, lastLine: 'Error: listen EADDRINUSE: address already in use :::8080' }),
      );
    sup.start();
    for (let i = 0; i < 20; i++) {
      await flush();
      clock.advance(1000);
    }
    await flush();
    expect(seam.children).toHaveLength(4);
    const e = ended();
    expect(e?.status).toEqual({ code: 1, signal: null });
    expect(e?.reason).toBe(
      'giving up: 4 restarts within 10 s; the last one exited with code 1: it bound the port itself ' +
        'and got EADDRINUSE; adopt the inherited socket instead (fd 3: listen() or sd_listen_fds())',
    );
  });

  it('gives up naming the last words of a child that was ready, at most 200 characters of them', async () => {
    const { seam, sup, clock, ended } = setup({ restart: 'always', startLimitBurst: 1, ready: 'auto' });
    const said = `Error: ${'x'.repeat(300)}`;
    seam.onSpawn = (c) =>
      queueMicrotask(() => {
        c.ready();
        c.exit({ code: 1, signal: null, lastLine: said });
      });
    sup.start();
    for (let i = 0; i < 5; i++) {
      await flush();
      clock.advance(1000);
    }
    await flush();
    const words = JSON.stringify(said.slice(0, 200));
    expect(ended()?.reason).toBe(
      `giving up: 2 restarts within 10 s; the last one exited with code 1: its last words were ${words}`,
    );
  });

  it('says when a crash-looping child was never seen using its sockets', async () => {
    const { seam, sup, clock, ended } = setup({ restart: 'always', startLimitBurst: 1, ready: 'auto' });
    seam.onSpawn = (c) => clock.setTimer(10, () => c.exit({ code: 2, signal: null }));
    sup.start();
    clock.advance(1000);
    await flush();
    expect(ended()?.reason).toMatch(
      /exited with code 2: it never became ready and was never seen accepting on its sockets \(does it adopt fd 3\?\)$/,
    );
    expect(ended()?.status.code).toBe(2);
  });
});

describe('Supervisor: readiness', () => {
  it('auto: a program that does not notify is ready as soon as it is seen accepting', () => {
    const { seam, sup, clock } = setup({ ready: 'auto' });
    sup.start();
    clock.advance(AUTO_PROBE_MS * 3);
    expect(sup.phase).toBe('starting');
    seam.last().isAccepting = true;
    clock.advance(AUTO_PROBE_MS);
    expect(sup.phase).toBe('running');
  });

  it('auto: one that cannot be seen is ready after the fallback delay', () => {
    const { sup, clock } = setup({ ready: 'auto' });
    sup.start();
    clock.advance(AUTO_FALLBACK_MS - AUTO_PROBE_MS);
    expect(sup.phase).toBe('starting');
    clock.advance(AUTO_PROBE_MS);
    expect(sup.phase).toBe('running');
  });

  it('auto: once the program has spoken sd_notify, a slow generation is not declared ready early', async () => {
    const { seam, sup, clock } = setup({ ready: 'auto' });
    sup.start();
    seam.last().ready();
    const r = sup.reload();
    const fresh = seam.last();
    fresh.isAccepting = true; // listening already, still warming up
    clock.advance(AUTO_FALLBACK_MS * 10);
    expect(sup.reloadInProgress).toBe(true);
    fresh.ready();
    expect((await r).ok).toBe(true);
  });

  it('a fixed delay: ready once alive that long', () => {
    const { sup, clock } = setup({ ready: 500 });
    sup.start();
    clock.advance(499);
    expect(sup.phase).toBe('starting');
    clock.advance(1);
    expect(sup.phase).toBe('running');
  });

  it('notify: a program that never notifies is stopped after the ready timeout and the launch fails', async () => {
    const { sup, clock, ended, seam } = setup({ ready: 'notify', readyTimeout: 1000 });
    sup.start();
    clock.advance(1000);
    expect(seam.last().signals).toEqual(['SIGTERM']);
    await flush();
    expect(ended()?.reason).toBe('pid 100 was stopped: it was not ready within 1.0 s');
  });
});

describe('Supervisor: watchdogs', () => {
  it('restarts a child that stops pinging its watchdog (SIGABRT, like systemd)', () => {
    const { seam, sup, clock } = setup({ watchdog: 1000, restart: 'on-failure' });
    sup.start();
    const c = seam.last();
    expect(c.request.env.WATCHDOG_USEC).toBe('1000000');
    c.ready();
    clock.advance(900);
    c.notify('WATCHDOG=1');
    clock.advance(900);
    expect(c.signals).toEqual([]);
    clock.advance(100);
    expect(c.signals).toEqual(['SIGABRT']);
    clock.advance(100);
    expect(seam.children).toHaveLength(2);
  });

  it('pings systemd at half its interval, and only while every worker is ready', () => {
    const { seam, sup, clock, upstream } = setup({ upstreamWatchdog: 2000, restart: 'always', restartDelay: 5000 });
    sup.start();
    clock.advance(1000);
    expect(upstream.kinds).toEqual([]); // not ready yet: no ping
    seam.last().ready();
    clock.advance(1000);
    expect(upstream.kinds).toEqual(['READY', 'WATCHDOG']);
    seam.last().exit({ code: 1, signal: null });
    clock.advance(1000);
    expect(upstream.kinds.filter((k) => k === 'WATCHDOG')).toHaveLength(1);
  });

  it('keeps no timer while idle (no watchdog asked for)', () => {
    const { seam, sup, clock } = setup();
    sup.start();
    seam.last().ready();
    clock.advance(1);
    expect(clock.pending).toBe(0);
  });
});

describe('Supervisor: stop and reload races', () => {
  it('a reload asked for while stopping is refused with one line', async () => {
    const { seam, sup, lines } = setup({ restart: 'always' });
    sup.start();
    const c = seam.last();
    c.ready();
    c.onSignal = () => {}; // drains slowly
    sup.stop();
    const o = await sup.reload();
    expect(o).toEqual({ ok: false, message: 'reload refused: sockact is stopping', generation: 1 });
    expect(lines.filter((l) => l === 'reload refused: sockact is stopping')).toHaveLength(1);
    expect(seam.children).toHaveLength(1);
  });

  it('a stop while the old generation drains after a reload lets it finish within the stop timeout', async () => {
    const { seam, sup, clock, ended } = setup({ restart: 'always', stopTimeout: 5000 });
    sup.start();
    const old = seam.last();
    old.ready();
    old.onSignal = () => {}; // still answering its last request
    const r = sup.reload();
    seam.last().ready();
    expect((await r).ok).toBe(true);
    clock.advance(1000);
    sup.stop();
    expect(old.signals).toEqual(['SIGTERM']); // not SIGKILL: it is stopping already
    clock.advance(2000);
    old.exit({ code: 0, signal: null }); // its request answered, it ends on its own
    await flush();
    expect(old.signals).toEqual(['SIGTERM']);
    expect(ended()).toEqual({ status: { code: 0, signal: null } });
  });

  it('a draining generation still gets SIGKILL at its own stop timeout, counted from its stop signal', () => {
    const { seam, sup, clock } = setup({ restart: 'always', stopTimeout: 5000 });
    sup.start();
    const old = seam.last();
    old.ready();
    old.onSignal = () => {};
    void sup.reload();
    seam.last().ready();
    clock.advance(3000);
    sup.stop();
    clock.advance(1999);
    expect(old.signals).toEqual(['SIGTERM']);
    clock.advance(1);
    expect(old.signals).toEqual(['SIGTERM', 'SIGKILL']);
  });

  it('only a second stop from outside kills at once; sockact giving up is not one', async () => {
    const { seam, sup, clock } = setup({ restart: 'always', workers: 2, startLimitBurst: 1, stopTimeout: 5000 });
    sup.start();
    for (const c of seam.children) c.ready();
    const steady = seam.children[0]!;
    steady.onSignal = () => {};
    seam.children[1]!.exit({ code: 1, signal: null });
    clock.advance(100);
    seam.last().exit({ code: 1, signal: null }); // the second restart within the window: gives up
    expect(sup.phase).toBe('stopping');
    expect(steady.signals).toEqual(['SIGTERM']);
    sup.stop(); // the first stop from outside: no second one
    expect(steady.signals).toEqual(['SIGTERM']);
    clock.advance(REPEATED_STOP_MS);
    sup.stop();
    expect(steady.signals).toEqual(['SIGTERM', 'SIGKILL']);
  });
});

describe('Supervisor: a child that leaves its process group behind', () => {
  it('a new generation that exits leaving a helper is never ready (auto): the reload fails', async () => {
    const { seam, sup, clock, lines } = setup({ ready: 'auto', stopTimeout: 5000 });
    sup.start();
    const old = seam.last();
    old.isAccepting = true;
    clock.advance(AUTO_PROBE_MS);
    expect(sup.phase).toBe('running');
    const r = sup.reload();
    const fresh = seam.last();
    fresh.leave({ code: 0, signal: null }, 10_000); // the shell exits, its helper lingers
    const o = await r;
    expect(o.ok).toBe(false);
    expect(o.message).toBe(
      'reload failed: pid 101 (generation 2) exited with code 0 before it was ready; generation 1 keeps serving',
    );
    clock.advance(AUTO_FALLBACK_MS * 2);
    expect(lines.filter((l) => /ready in/.test(l))).toEqual(['pid 100 ready in 25 ms (accepting)']);
    expect(old.signals).toEqual([]);
    expect(sup.slots[0]?.pid).toBe(old.pid);
  });

  it('with readiness a duration too', async () => {
    const { seam, sup, clock } = setup({ ready: 500 });
    sup.start();
    clock.advance(500);
    const r = sup.reload();
    seam.last().leave({ code: 0, signal: null }, 10_000);
    clock.advance(500);
    expect((await r).ok).toBe(false);
    expect(seam.children[0]!.signals).toEqual([]);
  });

  it('a serving child whose process is gone is no longer ready; the launch ends once its group is empty', async () => {
    const { seam, sup, clock, ended } = setup();
    sup.start();
    const c = seam.last();
    c.ready();
    c.leave({ code: 0, signal: null }, 50);
    expect(sup.slots[0]?.state).toBe('stopping');
    expect(sup.healthy()).toBe(false);
    clock.advance(50);
    await flush();
    expect(ended()).toEqual({ status: { code: 0, signal: null } });
  });
});

describe('Supervisor: found by the property tests (shrunk sequences)', () => {
  it('"giving up" is said once: as the ending reason, not also as a log line', async () => {
    const { seam, sup, clock, lines, ended } = setup({ restart: 'always', startLimitBurst: 1 });
    sup.start();
    seam.last().exit({ code: 1, signal: null });
    clock.advance(100);
    seam.last().exit({ code: 1, signal: null });
    await flush();
    expect(ended()?.reason).toMatch(/^giving up: 2 restarts within 10 s/);
    expect(lines.filter((l) => /giving up/.test(l))).toEqual([]);
  });

  it('EXTEND_TIMEOUT_USEC never shortens the stop timeout', () => {
    const { seam, sup, clock } = setup({ stopTimeout: 1000 });
    sup.start();
    const c = seam.last();
    c.onSignal = () => {};
    sup.stop();
    c.notify('EXTEND_TIMEOUT_USEC=200000');
    clock.advance(999);
    expect(c.signals).toEqual(['SIGTERM']);
    c.notify('EXTEND_TIMEOUT_USEC=5000000');
    clock.advance(4999);
    expect(c.signals).toEqual(['SIGTERM']);
    clock.advance(1);
    expect(c.signals).toEqual(['SIGTERM', 'SIGKILL']);
  });

  it('a reload asked for while the first generation starts is answered when that start fails', async () => {
    const { sup, clock } = setup({ readyTimeout: 2000 });
    sup.start();
    const r = sup.reload();
    clock.advance(2000);
    expect(await r).toEqual({ ok: false, message: 'reload cancelled: sockact is stopping', generation: 1 });
  });

  it('restart=no: when the old generation exits while a failed new one drains, sockact stops at once', async () => {
    const { seam, sup, clock, ended } = setup({ stopTimeout: 5000 });
    sup.start();
    const old = seam.last();
    old.ready();
    void sup.reload();
    seam.last().leave({ code: 0, signal: null }, 3000);
    old.exit({ code: 0, signal: null });
    expect(sup.phase).toBe('stopping');
    clock.advance(3000);
    await flush();
    expect(ended()).toEqual({ status: { code: 0, signal: null } });
  });

  it('a new generation past its ready timeout fails the reload at once, not after its stop timeout', async () => {
    const { seam, sup, clock } = setup({ readyTimeout: 2000, stopTimeout: 5000 });
    sup.start();
    seam.last().ready();
    const r = sup.reload();
    seam.last().onSignal = () => {}; // ignores SIGTERM
    clock.advance(2000);
    const o = await r;
    expect(o.message).toBe(
      'reload failed: pid 101 (generation 2) was not ready within 2.0 s; generation 1 keeps serving',
    );
    expect(sup.reloadInProgress).toBe(true); // until it is gone
    clock.advance(5000);
    expect(seam.last().signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(sup.reloadInProgress).toBe(false);
  });
});

describe('Supervisor: restart delays', () => {
  it('restart=always: a program that exits 0 is restarted after the first delay every time', () => {
    const { seam, sup, clock } = setup({ restart: 'always', restartDelay: 100, startLimitBurst: 100 });
    sup.start();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      seam.last().ready();
      clock.advance(500);
      const at = clock.now();
      const count = seam.children.length;
      seam.last().exit({ code: 0, signal: null });
      while (seam.children.length === count) clock.advance(1);
      delays.push(clock.now() - at);
    }
    expect(delays).toEqual([100, 100, 100, 100, 100]);
  });

  it('a clean exit starts the count of failures in a row again', () => {
    const { seam, sup, clock } = setup({ restart: 'always', restartDelay: 100, startLimitBurst: 100 });
    sup.start();
    const delays: number[] = [];
    for (const code of [1, 1, 0, 1, 1]) {
      const at = clock.now();
      const count = seam.children.length;
      seam.last().exit({ code, signal: null });
      while (seam.children.length === count) clock.advance(1);
      delays.push(clock.now() - at);
    }
    expect(delays).toEqual([100, 200, 100, 100, 200]);
  });
});
