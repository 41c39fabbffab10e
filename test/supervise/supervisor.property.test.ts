// Property-based tests of the Supervisor state machine under virtual time: fast-check generates
// options, how each child answers a stop signal, and a sequence of reload requests, outside stops,
// child exits (clean, crash, leaving a helper in the group), notify messages and clock advances;
// the invariants below are checked after every step and at every reload verdict. A failing
// sequence is shrunk by fast-check; the ones found became named tests in supervisor.test.ts.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExitStatus } from '../../src/supervise/seam.js';
import {
  REPEATED_STOP_MS,
  Supervisor,
  type Ending,
  type ReloadOutcome,
  type SupervisorOptions,
} from '../../src/supervise/supervisor.js';
import { FakeClock, FakeSeam, flush, type FakeChild } from './fakes.js';

const STOP_TIMEOUT = 1000;
const READY_TIMEOUT = 2000;
/** How long a child that drains takes to exit after its stop signal. */
const DRAIN_MS = 300;
/** Sequences per run, and the steps each may take: see BENCHMARKS.md, "Supervisor property tests". */
const RUNS = Number(process.env.SUPERVISOR_PROPERTY_RUNS ?? 500);
const MAX_STEPS = 40;

type Behaviour = 'dies' | 'drains' | 'ignores';
type Action =
  | { do: 'reload' }
  | { do: 'stop'; signal: 'SIGINT' | undefined }
  | { do: 'advance'; ms: number }
  | { do: 'exit'; child: number; status: ExitStatus }
  | { do: 'leave'; child: number; status: ExitStatus; linger: number }
  | { do: 'notify'; child: number; text: string }
  | { do: 'accepting'; child: number };

interface Scenario {
  options: Partial<SupervisorOptions>;
  /** How the n-th child spawned answers its stop signal (cycled). */
  behaviours: Behaviour[];
  actions: Action[];
}

const statuses: ExitStatus[] = [
  { code: 0, signal: null },
  { code: 1, signal: null },
  { code: null, signal: 'SIGSEGV' },
];
const child = fc.nat(20);
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.constant({ do: 'reload' } as const), weight: 3 },
  {
    arbitrary: fc
      .constantFrom<'SIGINT' | undefined>(undefined, 'SIGINT')
      .map((signal) => ({ do: 'stop', signal }) as const),
    weight: 1,
  },
  {
    arbitrary: fc
      .constantFrom(1, 25, 100, 149, 150, 300, 999, 1000, 2000, 3000)
      .map((ms) => ({ do: 'advance', ms }) as const),
    weight: 5,
  },
  {
    arbitrary: fc.record({ do: fc.constant('exit' as const), child, status: fc.constantFrom(...statuses) }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      do: fc.constant('leave' as const),
      child,
      status: fc.constantFrom(...statuses),
      linger: fc.constantFrom(50, 500, 5000),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      do: fc.constant('notify' as const),
      child,
      text: fc.constantFrom(
        'READY=1',
        'READY=1',
        'WATCHDOG=1',
        'STATUS=warming up',
        'STOPPING=1',
        'RELOADING=1',
        'WATCHDOG=trigger',
        'EXTEND_TIMEOUT_USEC=200000',
        'EXTEND_TIMEOUT_USEC=5000000',
      ),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ do: fc.constant('accepting' as const), child }), weight: 1 },
);

const scenario: fc.Arbitrary<Scenario> = fc.record({
  options: fc
    .record({
      workers: fc.integer({ min: 1, max: 3 }),
      restart: fc.constantFrom('no', 'on-failure', 'always'),
      ready: fc.constantFrom<'notify' | 'auto' | number>('notify', 'auto', 300),
      rolling: fc.boolean(),
      watchdog: fc.constantFrom<number | undefined>(undefined, 800),
      startLimitBurst: fc.integer({ min: 2, max: 6 }),
    })
    .map(
      ({ watchdog, ...o }) => ({ ...o, ...(watchdog !== undefined ? { watchdog } : {}) }) as Partial<SupervisorOptions>,
    ),
  behaviours: fc.array(fc.constantFrom<Behaviour>('dies', 'drains', 'ignores'), { minLength: 1, maxLength: 4 }),
  actions: fc.array(action, { maxLength: MAX_STEPS, size: 'max' }),
});

const reach = { sequences: 0, steps: 0, longest: 0 };

/** Run one scenario, checking every invariant after each step; throws on the first violation. */
async function runScenario(s: Scenario): Promise<void> {
  const clock = new FakeClock();
  const seam = new FakeSeam(clock);
  const lines: string[] = [];
  const outsideStops: { signal: string | undefined; at: number }[] = [];
  /** When a second stop from outside (not the same one repeated) allowed killing at once. */
  let escalatedAt: number | undefined;
  const endings: Ending[] = [];
  let childrenAtEnd: number | undefined;
  const outcomes: ReloadOutcome[] = [];
  let asked = 0;
  const fail = (what: string) => {
    throw new Error(`${what} (at ${clock.now()} ms)\n${lines.map((l) => `  | ${l}`).join('\n')}`);
  };
  const childOf = (pid: number | undefined) => seam.children.find((c) => c.pid === pid);
  const alive = (c: FakeChild | undefined) => c !== undefined && !c.gone && !c.left;

  const opts: Partial<SupervisorOptions> = {
    ready: 'notify',
    stopTimeout: STOP_TIMEOUT,
    readyTimeout: READY_TIMEOUT,
    restartDelay: 100,
    ...s.options,
  };
  const sup: Supervisor = new Supervisor(opts, seam, clock, (line) => {
    lines.push(line);
    // A reload's verdict, checked at the moment it is given.
    const failing = /^reload failed: (?:pid \S+ \((?:worker (\d+), )?generation (\d+)\))?/.exec(line);
    if (failing) {
      const gen = Number(failing[2] ?? sup.generation);
      // --rolling stops a failed reload where it is (README): the slots replaced already keep the new generation.
      const kept = opts.rolling ? [sup.slots[Number(failing[1] ?? 0)]] : sup.slots;
      if (kept.some((w) => w !== undefined && w.generation >= gen))
        fail(`reload of generation ${gen} failed, yet it serves: ${sup.slots.map((w) => w?.generation)}`);
    }
    const ok = /^reloaded: generation (\d+)/.exec(line);
    if (ok) {
      const gen = Number(ok[1]);
      if (sup.slots.some((w) => w !== undefined && w.generation !== gen))
        fail(`generation ${gen} reloaded, yet an older one serves`);
      if (!sup.slots.some((w) => w?.state === 'ready' && alive(childOf(w.pid))))
        fail(`generation ${gen} reloaded, yet none of it is ready and alive`);
    }
  });
  void sup.done.then((e) => {
    endings.push(e);
    childrenAtEnd = seam.children.length;
  });
  let spawned = 0;
  seam.onSpawn = (c) => {
    const b = s.behaviours[spawned++ % s.behaviours.length]!;
    let draining = false;
    c.onSignal = (signal) => {
      if (b === 'dies') c.exit({ code: null, signal });
      else if (b === 'drains' && !draining) {
        draining = true;
        clock.setTimer(DRAIN_MS, () => c.exit({ code: 0, signal: null }));
      }
    };
  };

  const check = (where: string) => {
    if (endings.length > 1) fail(`${where}: ended ${endings.length} times`);
    if (endings.length === 1) {
      if (sup.phase !== 'stopped') fail(`${where}: ended, but the phase is ${sup.phase}`);
      if (sup.live.length > 0 || seam.alive.length > 0) fail(`${where}: ended with children alive`);
      if (seam.children.length !== childrenAtEnd) fail(`${where}: a child was started after the end`);
    }
    if (sup.phase === 'starting' || sup.phase === 'running') {
      const serving = sup.live.some((w) => w.state === 'starting' || w.state === 'ready' || sup.slots.includes(w));
      if (!serving && sup.report(0).restartsPending === 0)
        fail(`${where}: ${sup.phase}, yet no generation serves or starts`);
    }
    for (const w of sup.live) {
      const c = childOf(w.pid);
      if (w.state === 'ready' && !alive(c)) fail(`${where}: pid ${w.pid} is ready but its process is gone`);
      if (c?.gone) fail(`${where}: pid ${w.pid} is gone, but the supervisor did not see it end`);
    }
    for (const c of seam.children) {
      const started = lines.filter((l) => new RegExp(`^started .* as pid ${c.pid}( |$)`).test(l)).length;
      if (started !== 1) fail(`${where}: pid ${c.pid} was said to start ${started} times`);
      const ended = lines.filter((l) =>
        new RegExp(`^pid ${c.pid}( \\([^)]*\\))? (exited with code|killed by) `).test(l),
      ).length;
      if (ended !== (c.gone ? 1 : 0))
        fail(`${where}: pid ${c.pid} ${c.gone ? 'ended' : 'runs'}, and its end was said ${ended} times`);
      const first = c.signalled.find((x) => x.signal !== 'SIGKILL');
      for (const k of c.signalled.filter((x) => x.signal === 'SIGKILL')) {
        const waited = first !== undefined && k.at - first.at >= STOP_TIMEOUT;
        const asked = escalatedAt !== undefined && escalatedAt <= k.at;
        if (!waited && !asked)
          fail(`${where}: pid ${c.pid} got SIGKILL at ${k.at}, its stop signal at ${first?.at}, no second stop`);
      }
    }
    const said =
      lines.filter((l) => /giving up/.test(l)).length + endings.filter((e) => /giving up/.test(e.reason ?? '')).length;
    if (said > 1) fail(`${where}: "giving up" said ${said} times`);
  };

  sup.start();
  check('start');
  const step = async (a: Action) => {
    const target = 'child' in a && seam.children.length > 0 ? seam.children[a.child % seam.children.length] : undefined;
    switch (a.do) {
      case 'reload':
        asked++;
        void sup.reload().then((o) => outcomes.push(o));
        break;
      case 'stop': {
        const last = outsideStops.at(-1);
        const now = clock.now();
        if (last && sup.phase !== 'stopped' && (last.signal !== a.signal || now - last.at >= REPEATED_STOP_MS))
          escalatedAt ??= now;
        outsideStops.push({ signal: a.signal, at: now });
        sup.stop(a.signal);
        break;
      }
      case 'advance':
        clock.advance(a.ms);
        break;
      case 'exit':
        if (target && !target.left) target.exit({ ...a.status });
        break;
      case 'leave':
        target?.leave({ ...a.status }, a.linger);
        break;
      case 'notify':
        if (target && !target.gone && !target.left) target.notify(a.text);
        break;
      case 'accepting':
        if (target) target.isAccepting = true;
        break;
    }
    await flush();
    check(JSON.stringify(a));
  };
  for (const a of s.actions) await step(a);
  // However it got here, a stop from outside ends it, within the stop timeout and the drains.
  await step({ do: 'stop', signal: undefined });
  for (let i = 0; i < 40 && endings.length === 0; i++) await step({ do: 'advance', ms: 500 });
  if (endings.length !== 1) fail('a stop from outside did not end the supervisor');
  if (outcomes.length !== asked) fail(`${asked} reloads asked for, ${outcomes.length} answered`);
  reach.sequences++;
  reach.steps += s.actions.length;
  reach.longest = Math.max(reach.longest, s.actions.length);
}

describe('Supervisor: properties under random interleavings', () => {
  it(`holds every invariant over ${RUNS} random sequences of up to ${MAX_STEPS} steps`, async () => {
    await fc.assert(fc.asyncProperty(scenario, runScenario), { numRuns: RUNS });
    expect(reach.sequences).toBeGreaterThanOrEqual(RUNS);
  }, 120_000);
});

afterAll(() => {
  if (process.env.SUPERVISOR_PROPERTY_REACH) {
    console.log(
      `supervisor property reach: ${reach.sequences} sequences, ${reach.steps} steps (longest ${reach.longest})`,
    );
  }
});
