// The hand-over of one batch of connections (protocol/migrate.ts), pure: both state machines under
// a fake clock, each transition alone, then the two sides wired through a model of the kernel
// (ordered message queues, fds shared by both processes, deaths that close a process's copies)
// explored exhaustively and with fast-check. The invariant after every step: every connection
// has exactly one owner, never two readers, and every request is answered once or its connection
// closed by its owner's death (the only loss no protocol can prevent).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BatchReceiver,
  BatchSender,
  formatMigrateMessage,
  type MigrateClock,
  parseMigrateMessage,
  type ReceiverActions,
  type SenderActions,
} from '../../src/protocol/migrate.js';

/** Virtual time: timers fire only when the test advances the clock. */
class FakeClock implements MigrateClock {
  now = 0;
  #timers: { at: number; fn: () => void; live: boolean; seq: number }[] = [];
  #seq = 0;
  setTimer(ms: number, fn: () => void) {
    const t = { at: this.now + ms, fn, live: true, seq: this.#seq++ };
    this.#timers.push(t);
    return {
      cancel: () => {
        t.live = false;
      },
    };
  }
  get pending(): number {
    return this.#timers.filter((t) => t.live).length;
  }
  /** Advance to the earliest live timer and fire it; false when none is left. */
  next(): boolean {
    const live = this.#timers.filter((t) => t.live).sort((a, b) => a.at - b.at || a.seq - b.seq);
    const t = live[0];
    if (!t) return false;
    this.now = Math.max(this.now, t.at);
    t.live = false;
    t.fn();
    return true;
  }
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const t = this.#timers.filter((x) => x.live && x.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!t) break;
      this.now = t.at;
      t.live = false;
      t.fn();
    }
    this.now = until;
  }
}

function senderWith(size: number, clock: FakeClock, confirmThrows = false) {
  const log: string[] = [];
  const actions: SenderActions = {
    confirm: (ix) => {
      log.push(`confirm ${ix}`);
      if (confirmThrows) throw new Error('EPIPE');
    },
    settle: (moved) => log.push(`settle ${[...moved].sort()}`),
  };
  return { s: new BatchSender(size, clock, 1000, actions), log };
}

function receiverWith(
  size: number,
  acceptable: number[],
  clock: FakeClock,
  opts: { failPrepare?: number[]; acceptThrows?: boolean } = {},
) {
  const log: string[] = [];
  const actions: ReceiverActions = {
    accept: (ix) => {
      log.push(`accept ${ix}`);
      if (opts.acceptThrows) throw new Error('EPIPE');
    },
    prepare: (ix) => {
      log.push(`prepare ${ix}`);
      return ix.filter((i) => !opts.failPrepare?.includes(i));
    },
    ack: (ix) => log.push(`ack ${ix}`),
    serve: (ix) => log.push(`serve ${ix}`),
    drop: (ix) => ix.length > 0 && log.push(`drop ${ix}`),
  };
  return { r: new BatchReceiver(size, acceptable, clock, 1000, actions), log };
}

describe('the messages', () => {
  it('round-trip, and index lists keep only indexes of the batch', () => {
    const conns = [{ server: 'IPv4:127.0.0.1:80', kind: 'http' as const }];
    expect(parseMigrateMessage(formatMigrateMessage({ type: 'conns', conns }))).toEqual({ type: 'conns', conns });
    expect(parseMigrateMessage(formatMigrateMessage({ type: 'confirm', indexes: [0, 2] }), 3)).toEqual({
      type: 'confirm',
      indexes: [0, 2],
    });
    expect(parseMigrateMessage(Buffer.from('{"adopted":[1,1,-1,7,0.5,"2",2]}'), 3)).toEqual({
      type: 'adopted',
      indexes: [1, 2],
    });
    expect(parseMigrateMessage(Buffer.from('{"conns":[{"server":1}]}'))).toBeUndefined();
    expect(parseMigrateMessage(Buffer.from('not json'))).toBeUndefined();
    expect(parseMigrateMessage(Buffer.from('{"other":[]}'))).toBeUndefined();
  });
});

describe('BatchSender under a fake clock', () => {
  it('sent -> confirmed on the vote -> moved on adopted; what was not adopted comes back', () => {
    const clock = new FakeClock();
    const { s, log } = senderWith(3, clock);
    s.accepted([0, 2]);
    expect(s.state).toBe('confirmed');
    s.adopted([0, 1]); // 1 was never confirmed: not the receiver's
    expect(s.state).toBe('moved');
    expect(log).toEqual(['confirm 0,2', 'settle 0']);
  });

  it('the timeout before a vote takes everything back; a late vote is ignored (nothing is confirmed)', () => {
    const clock = new FakeClock();
    const { s, log } = senderWith(2, clock);
    clock.advance(999);
    expect(s.state).toBe('sent');
    clock.advance(1);
    expect(s.state).toBe('taken back');
    s.accepted([0, 1]);
    s.adopted([0, 1]);
    expect(log).toEqual(['settle ']);
  });

  it('no timeout once confirmed: a slow receiver is waited for, its adopted still counts', () => {
    const clock = new FakeClock();
    const { s, log } = senderWith(1, clock);
    s.accepted([0]);
    clock.advance(60_000);
    expect(s.state).toBe('confirmed');
    s.adopted([0]);
    expect(log).toEqual(['confirm 0', 'settle 0']);
  });

  it('the peer gone before its vote, or after the confirmation without adopted: everything comes back', () => {
    for (const confirmFirst of [false, true]) {
      const clock = new FakeClock();
      const { s, log } = senderWith(2, clock);
      if (confirmFirst) s.accepted([0, 1]);
      s.peerGone();
      expect(s.state).toBe('taken back');
      expect(log.at(-1)).toBe('settle ');
      expect(clock.pending).toBe(0);
    }
  });

  it('a refusal (an empty vote) and a confirmation that cannot be sent take everything back', () => {
    const a = senderWith(2, new FakeClock());
    a.s.accepted([]);
    expect(a.log).toEqual(['settle ']);
    const b = senderWith(2, new FakeClock(), true);
    b.s.accepted([1]);
    expect(b.s.state).toBe('taken back');
    expect(b.log).toEqual(['confirm 1', 'settle ']);
  });
});

describe('BatchReceiver under a fake clock', () => {
  it('received -> adopted: votes what it can serve, prepares, acks before it serves', () => {
    const { r, log } = receiverWith(3, [0, 2], new FakeClock());
    r.confirmed([0, 2]);
    expect(r.state).toBe('adopted');
    expect(log).toEqual(['drop 1', 'accept 0,2', 'prepare 0,2', 'ack 0,2', 'serve 0,2']);
  });

  it('a refusal: nothing it can serve, every fd dropped, an empty vote', () => {
    const { r, log } = receiverWith(2, [], new FakeClock());
    expect(r.state).toBe('refused');
    expect(log).toEqual(['drop 0,1', 'accept ']);
  });

  it('no confirmation in time: refused, fds dropped; a confirmation after that adopts nothing', () => {
    const clock = new FakeClock();
    const { r, log } = receiverWith(1, [0], clock);
    clock.advance(1000);
    expect(r.state).toBe('refused');
    r.confirmed([0]);
    expect(log).toEqual(['accept 0', 'drop 0']);
  });

  it('the sender gone before confirming: refused', () => {
    const { r, log } = receiverWith(1, [0], new FakeClock());
    r.peerGone();
    expect([r.state, log]).toEqual(['refused', ['accept 0', 'drop 0']]);
  });

  it('draining meanwhile, or a socket that cannot be made: acks only what it serves', () => {
    const a = receiverWith(2, [0, 1], new FakeClock());
    a.r.confirmed([0, 1], false);
    expect(a.log).toEqual(['accept 0,1', 'drop 0,1', 'ack ']);
    const b = receiverWith(2, [0, 1], new FakeClock(), { failPrepare: [1] });
    b.r.confirmed([0, 1]);
    expect(b.log).toEqual(['accept 0,1', 'prepare 0,1', 'drop 1', 'ack 0', 'serve 0']);
  });

  it('the vote cannot be sent (the sender is gone): refused at once', () => {
    const { r, log } = receiverWith(1, [0], new FakeClock(), { acceptThrows: true });
    expect([r.state, log]).toEqual(['refused', ['accept 0', 'drop 0']]);
  });
});

// ---- the two sides through a model of the kernel ----

type ToReceiver = { kind: 'bundle' } | { kind: 'confirm'; ix: number[] } | { kind: 'eof' };
type ToSender = { kind: 'accept'; ix: number[] } | { kind: 'adopted'; ix: number[] } | { kind: 'eof' };

interface Conn {
  /** The sender's copy: read by it, held unread during the hand-over, or closed. */
  s: 'reading' | 'held' | 'closed';
  /** The receiver's copy: none yet, held unread (in flight or received), served, or closed. */
  r: 'none' | 'held' | 'serving' | 'closed';
  /** Requests the client sent that nobody has read yet. */
  pending: number;
  answered: number;
  sent: number;
  /** The process that owned it died: requests it had not answered may be lost with it. */
  ownerDied: boolean;
  /** The receiver has served it (read from it) at some point. */
  servedByReceiver: boolean;
}

interface Scenario {
  size: number;
  /** The indexes the receiver can serve (the rest it refuses). */
  acceptable: number[];
  /** Sockets the receiver fails to make. */
  failPrepare: number[];
}

type Step = 'toReceiver' | 'toSender' | 'tick' | 'killReceiver' | 'killSender' | { send: number };

/**
 * One batch between two processes. Messages are delivered in order per direction (a seqpacket
 * connection); a process's death closes its copies of every fd and ends its side of the
 * connection after what it already queued; each process's timers live on one shared clock.
 */
class World {
  clock = new FakeClock();
  conns: Conn[];
  toR: ToReceiver[] = [{ kind: 'bundle' }];
  toS: ToSender[] = [];
  sAlive = true;
  rAlive = true;
  sender: BatchSender;
  receiver: BatchReceiver | undefined;
  #sClosed = false;
  #rClosed = false;
  violations: string[] = [];

  constructor(readonly sc: Scenario) {
    this.conns = Array.from({ length: sc.size }, () => ({
      s: 'held',
      r: 'held',
      pending: 0,
      answered: 0,
      sent: 0,
      ownerDied: false,
      servedByReceiver: false,
    }));
    this.sender = new BatchSender(sc.size, this.clock, 1000, {
      confirm: (ix) => {
        if (!this.rAlive || this.#rClosed) throw new Error('EPIPE');
        this.toR.push({ kind: 'confirm', ix });
      },
      settle: (moved) => {
        for (const [i, c] of this.conns.entries()) {
          if (moved.has(i)) c.s = 'closed';
          else if (c.s === 'held') {
            if (c.servedByReceiver) this.violations.push(`connection ${i} taken back after the receiver read from it`);
            c.s = 'reading';
          }
        }
        this.#endS();
      },
    });
  }

  #endS(): void {
    if (this.#sClosed) return;
    this.#sClosed = true;
    this.toR.push({ kind: 'eof' });
  }

  #endR(): void {
    if (this.#rClosed) return;
    this.#rClosed = true;
    this.toS.push({ kind: 'eof' });
  }

  #receive(): void {
    const sc = this.sc;
    this.receiver = new BatchReceiver(sc.size, sc.acceptable, this.clock, 1000, {
      accept: (ix) => {
        if (!this.sAlive || this.#sClosed) throw new Error('EPIPE');
        this.toS.push({ kind: 'accept', ix });
      },
      prepare: (ix) => ix.filter((i) => !sc.failPrepare.includes(i)),
      ack: (ix) => {
        if (!this.sAlive || this.#sClosed) throw new Error('EPIPE');
        this.toS.push({ kind: 'adopted', ix });
      },
      serve: (ix) => {
        for (const i of ix) {
          this.conns[i]!.r = 'serving';
          this.conns[i]!.servedByReceiver = true;
        }
      },
      drop: (ix) => {
        for (const i of ix) if (this.conns[i]!.r === 'held') this.conns[i]!.r = 'closed';
      },
    });
    // The timer's refusal ends the receiver's side of the connection, as app/migrate.ts does.
    this.#afterReceiverEvent();
  }

  #afterReceiverEvent(): void {
    if (this.receiver && this.receiver.state !== 'received') this.#endR();
  }

  available(): Step[] {
    const out: Step[] = [];
    if (this.rAlive && this.toR.length > 0) out.push('toReceiver');
    if (this.sAlive && this.toS.length > 0) out.push('toSender');
    if (this.clock.pending > 0) out.push('tick');
    if (this.rAlive) out.push('killReceiver');
    if (this.sAlive) out.push('killSender');
    return out;
  }

  step(st: Step): void {
    if (typeof st === 'object') {
      const c = this.conns[st.send % this.conns.length]!;
      if (this.#open(c)) {
        c.pending++;
        c.sent++;
      }
    } else if (st === 'toReceiver' && this.rAlive) {
      const m = this.toR.shift();
      if (m?.kind === 'bundle') this.#receive();
      else if (m?.kind === 'confirm') this.receiver?.confirmed(m.ix);
      else if (m?.kind === 'eof') this.receiver?.peerGone();
      if (m?.kind === 'eof' && !this.receiver) this.#dropInFlight();
      this.#afterReceiverEvent();
    } else if (st === 'toSender' && this.sAlive) {
      const m = this.toS.shift();
      if (m?.kind === 'accept') this.sender.accepted(m.ix);
      else if (m?.kind === 'adopted') this.sender.adopted(m.ix);
      else if (m?.kind === 'eof') this.sender.peerGone();
    } else if (st === 'tick') {
      this.clock.next();
      this.#afterReceiverEvent();
      // A sender that timed out has closed its side; a dead receiver's timers died with it.
    } else if (st === 'killReceiver' && this.rAlive) {
      for (const c of this.conns) if (c.r === 'held' || c.r === 'serving') this.#dies(c, 'r');
      this.rAlive = false;
      this.toR = [];
      this.#cancelTimersOf('r');
      this.#endR();
    } else if (st === 'killSender' && this.sAlive) {
      for (const c of this.conns) if (c.s !== 'closed') this.#dies(c, 's');
      this.sAlive = false;
      this.toS = [];
      this.#cancelTimersOf('s');
      this.#endS();
    }
    this.serve();
    this.check();
  }

  /** The sender closed before the receiver took the bundle: the kernel drops the fds in flight. */
  #dropInFlight(): void {
    for (const c of this.conns) if (c.r === 'held') c.r = 'closed';
  }

  #cancelTimersOf(side: 'r' | 's'): void {
    // Dead processes run nothing: their state machines are simply never called again.
    if (side === 'r' && this.receiver) (this.receiver as { timeout(): void }).timeout = () => {};
    if (side === 's') {
      const s = this.sender as unknown as Record<string, unknown>;
      for (const m of ['timeout', 'accepted', 'adopted', 'peerGone']) s[m] = () => {};
    }
  }

  /** A process died holding `c`: its copy is closed; if it owned it, what was pending may be lost with it. */
  #dies(c: Conn, side: 'r' | 's'): void {
    if (this.owners(c).includes(side)) c.ownerDied = true;
    c[side] = 'closed';
  }

  #open(c: Conn): boolean {
    return (this.sAlive && c.s !== 'closed') || (this.rAlive && (c.r === 'held' || c.r === 'serving'));
  }

  /**
   * Who owns `c` by the protocol's rule: the receiver once it serves it; the sender while it
   * reads it or holds it in a batch the receiver has not adopted.
   */
  owners(c: Conn): ('s' | 'r')[] {
    const r = this.rAlive && c.r === 'serving';
    const s = this.sAlive && (c.s === 'reading' || (c.s === 'held' && !r));
    return [...(r ? (['r'] as const) : []), ...(s ? (['s'] as const) : [])];
  }

  /** Whoever reads a connection answers what its client sent. */
  serve(): void {
    for (const c of this.conns) {
      const readers = (this.sAlive && c.s === 'reading' ? 1 : 0) + (this.rAlive && c.r === 'serving' ? 1 : 0);
      if (readers === 1) {
        c.answered += c.pending;
        c.pending = 0;
      }
    }
  }

  check(): void {
    for (const [i, c] of this.conns.entries()) {
      const readers = (this.sAlive && c.s === 'reading' ? 1 : 0) + (this.rAlive && c.r === 'serving' ? 1 : 0);
      if (readers > 1) this.violations.push(`connection ${i} is read by both`);
      if (c.answered > c.sent) this.violations.push(`connection ${i}: a request answered twice`);
      const open = this.#open(c);
      const n = this.owners(c).length;
      // None only while the owner died and the other side still holds a copy it has not decided on.
      if (open && (n > 1 || (n === 0 && !c.ownerDied))) this.violations.push(`connection ${i} has ${n} owners`);
      if (!open && c.pending > 0 && !c.ownerDied)
        this.violations.push(`connection ${i} closed with ${c.pending} requests unanswered`);
    }
  }

  /** Deliver everything and fire every timer until nothing is left to happen. */
  settle(): void {
    for (let i = 0; i < 100; i++) {
      const next = this.available().find((s) => s !== 'killReceiver' && s !== 'killSender');
      if (!next) break;
      this.step(next);
    }
  }

  /** At rest: every connection is read by exactly one living process, or closed by a death. */
  checkAtRest(): void {
    for (const [i, c] of this.conns.entries()) {
      const readers = (this.sAlive && c.s === 'reading' ? 1 : 0) + (this.rAlive && c.r === 'serving' ? 1 : 0);
      const open = this.#open(c);
      if (open && readers !== 1)
        this.violations.push(`connection ${i} at rest: ${readers} readers (s ${c.s}, r ${c.r})`);
      if (!open && this.sAlive && this.rAlive) this.violations.push(`connection ${i} closed while both processes live`);
    }
  }
}

const SCENARIOS: [string, Scenario][] = [
  ['the receiver takes all', { size: 2, acceptable: [0, 1], failPrepare: [] }],
  ['the receiver refuses all', { size: 2, acceptable: [], failPrepare: [] }],
  ['the receiver refuses one', { size: 2, acceptable: [1], failPrepare: [] }],
  ['the receiver cannot make one socket', { size: 2, acceptable: [0, 1], failPrepare: [0] }],
];

/** Deep enough for the four messages, both timers and both deaths in any order. */
const DEPTH = 8;

describe('both sides together: every interleaving', () => {
  for (const [what, sc] of SCENARIOS) {
    it(`${what}: answers arriving, timeouts firing, either peer dying, in every order`, () => {
      let paths = 0;
      const explore = (prefix: Step[]) => {
        const w = new World(sc);
        // Each connection has a request waiting when the batch is sent, and gets one more at every step.
        for (let i = 0; i < sc.size; i++) w.step({ send: i });
        for (const st of prefix) {
          w.step(st);
          for (let i = 0; i < sc.size; i++) w.step({ send: i });
        }
        const next = w.available();
        if (next.length === 0 || prefix.length >= DEPTH) {
          paths++;
          w.settle();
          w.checkAtRest();
          expect([...new Set(w.violations)], prefix.join(' ')).toEqual([]);
          return;
        }
        for (const st of next) explore([...prefix, st]);
      };
      explore([]);
      expect(paths).toBeGreaterThan(50);
    });
  }
});

describe('both sides together: fast-check', () => {
  const step = fc.oneof(
    fc.constantFrom<Step>('toReceiver', 'toSender', 'tick', 'toReceiver', 'toSender'),
    fc.constantFrom<Step>('killReceiver', 'killSender'),
    fc.nat(7).map((n): Step => ({ send: n })),
  );
  const scenario = fc.integer({ min: 1, max: 8 }).chain((size) =>
    fc.record({
      size: fc.constant(size),
      acceptable: fc.subarray(Array.from({ length: size }, (_, i) => i)),
      failPrepare: fc.subarray(
        Array.from({ length: size }, (_, i) => i),
        { maxLength: Math.min(2, size) },
      ),
    }),
  );
  it(
    'every connection has exactly one owner after every step; ' +
      'every request is answered once or lost to its owner dying',
    () => {
      fc.assert(
        fc.property(scenario, fc.array(step, { maxLength: 40 }), (sc, steps) => {
          const w = new World(sc);
          for (const st of steps) w.step(st);
          w.settle();
          w.checkAtRest();
          expect([...new Set(w.violations)]).toEqual([]);
        }),
        { numRuns: 2000 },
      );
    },
  );
});
