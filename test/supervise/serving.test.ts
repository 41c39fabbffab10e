// Which workers the supervisor says it serves with (ProcessSeam.serving): where an older
// generation's connections may migrate to (app/migrate.ts). Virtual time, scripted children.
import { describe, expect, it } from 'vitest';
import type { ChildEvents, SpawnRequest } from '../../src/supervise/seam.js';
import { Supervisor, type SupervisorOptions } from '../../src/supervise/supervisor.js';
import { type FakeChild, FakeClock, FakeSeam } from './fakes.js';

/** A seam that records, in one list, each `serving` call and each signal a child gets. */
class RecordingSeam extends FakeSeam {
  events: string[] = [];
  serving(workers: readonly { generation: number; worker: number }[]): void {
    this.events.push(`serving ${workers.map((w) => `${w.generation}.${w.worker}`).join(' ')}`.trim());
  }
  override spawn(request: SpawnRequest, events: ChildEvents): FakeChild {
    const c = super.spawn(request, events);
    const kill = c.kill.bind(c);
    c.kill = (signal: string) => {
      if (!c.gone) this.events.push(`${signal} ${request.generation}.${request.worker}`);
      kill(signal);
    };
    return c;
  }
}

function setup(opts: Partial<SupervisorOptions> = {}) {
  const seam = new RecordingSeam();
  const sup = new Supervisor({ ready: 'notify', ...opts }, seam, new FakeClock());
  return { seam, sup };
}

describe('Supervisor: the workers it serves with (ProcessSeam.serving)', () => {
  it('a ready worker is listed; a reload lists the new one before the old one is stopped', () => {
    const { seam, sup } = setup();
    sup.start();
    expect(seam.events).toEqual([]);
    seam.last().ready();
    void sup.reload();
    expect(seam.events).toEqual(['serving 1.0']); // the candidate is not listed while it starts
    seam.last().ready();
    expect(seam.events).toEqual(['serving 1.0', 'serving 2.0', 'SIGTERM 1.0']);
  });

  it('a reload that fails (never ready, exits 1) is never listed', () => {
    const { seam, sup } = setup();
    sup.start();
    seam.last().ready();
    void sup.reload();
    seam.last().notify('STATUS=listening, not ready');
    seam.last().exit({ code: 1, signal: null });
    expect(seam.events).toEqual(['serving 1.0']);
  });

  it('a rolling reload lists each new worker as it takes its slot', () => {
    const { seam, sup } = setup({ workers: 2, rolling: true });
    sup.start();
    for (const c of seam.children) c.ready();
    void sup.reload();
    seam.last().ready();
    seam.last().ready();
    expect(seam.events).toEqual([
      'serving 1.0',
      'serving 1.0 1.1',
      'serving 2.0 1.1',
      'SIGTERM 1.0',
      'serving 2.0 2.1',
      'SIGTERM 1.1',
    ]);
  });

  it('a worker that dies is unlisted until its restart is ready; stopping lists none before any signal', () => {
    const { seam, sup } = setup({ restart: 'on-failure', restartDelay: 0 });
    sup.start();
    seam.last().ready();
    seam.last().exit({ code: 1, signal: null });
    expect(seam.events).toEqual(['serving 1.0', 'serving']);
    (sup.clock as FakeClock).advance(0);
    seam.last().ready();
    sup.stop();
    expect(seam.events).toEqual(['serving 1.0', 'serving', 'serving 1.0', 'serving', 'SIGTERM 1.0']);
  });
});
