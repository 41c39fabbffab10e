/**
 * Connection migration between generations (app/migrate.ts): the messages of one batch and the
 * two state machines that hand it over, one per side. Pure: no OS access; time comes from an
 * injected clock, so every interleaving is unit-tested (test/protocol/migrate.test.ts).
 *
 * One batch, on its own seqpacket connection, in four messages (docs/migration.md):
 *   1. sender -> receiver: an fd bundle (protocol/fdpass.ts), its message `{"conns":[...]}`.
 *      The sender has stopped reading those connections: what clients send waits in the kernel.
 *   2. receiver -> sender: `{"accept":[i...]}`, the ones it can serve. It holds their fds and
 *      reads none of them yet.
 *   3. sender -> receiver: `{"confirm":[i...]}` (the accepted ones), unless it gave up waiting.
 *   4. receiver -> sender: `{"adopted":[i...]}`, sent before it reads any of them; then it serves.
 *
 * Who owns a connection: the sender until it sends `confirm`; the receiver from the moment it reads
 * `confirm`. The sender takes a connection back (reads it again) only with proof that the receiver
 * never read it: a refusal, its own timeout before step 3 (it then closes the connection without
 * confirming, and a receiver adopts only what was confirmed), or the end of the connection without
 * `adopted` (the receiver writes `adopted` before it reads a byte, so a receiver that died or gave
 * up without it read nothing). After step 3 the sender has no timeout of its own: it cannot tell
 * a slow receiver from one that refused, so it waits for one of the two to show (the receiver's
 * own timeout, before step 3, refuses). This is two-phase commit with the receiver's vote first
 * and the sender's decision last, rather than "the sender never takes back what it cannot prove
 * was refused" with one phase: then a receiver that is merely slow would hold the batch's clients
 * unanswered for as long as it is slow, while here the long wait (a busy receiver, step 2) ends
 * with the sender's timeout and the sender serving again.
 */

/** How long either side waits for the other's next message before a batch is given up (ms). */
export const MIGRATE_ANSWER_TIMEOUT = 5000;

/** What one migrated fd is: an idle HTTP/1 connection, or an app's connection with its state. */
export interface MigrateEntry {
  /** The listening socket it was accepted on, as addressKey() names it. */
  server: string;
  kind: 'http' | 'app';
  /** base64 of the app's state blob (kind 'app'). */
  state?: string;
}

export type MigrateMessage =
  | { type: 'conns'; conns: MigrateEntry[] }
  | { type: 'accept'; indexes: number[] }
  | { type: 'confirm'; indexes: number[] }
  | { type: 'adopted'; indexes: number[] };

const LISTS = ['accept', 'confirm', 'adopted'] as const;

export function formatMigrateMessage(m: MigrateMessage): Buffer {
  return Buffer.from(JSON.stringify(m.type === 'conns' ? { conns: m.conns } : { [m.type]: m.indexes }));
}

function isEntry(e: unknown): e is MigrateEntry {
  const o = e as MigrateEntry;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.server === 'string' &&
    (o.kind === 'http' || o.kind === 'app') &&
    (o.state === undefined || typeof o.state === 'string')
  );
}

/**
 * One message of the exchange, or undefined when it is not one (then the batch is given up as a
 * refusal). Index lists keep only integers in [0, size): a peer cannot name what is not in the batch.
 */
export function parseMigrateMessage(data: Buffer, size = Number.POSITIVE_INFINITY): MigrateMessage | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  if (Array.isArray(o.conns)) return o.conns.every(isEntry) ? { type: 'conns', conns: o.conns } : undefined;
  for (const type of LISTS) {
    const list = o[type];
    if (!Array.isArray(list)) continue;
    const indexes = [...new Set(list.filter((i): i is number => Number.isInteger(i) && i >= 0 && i < size))];
    return { type, indexes };
  }
  return undefined;
}

/** The clock both state machines run on: the real one in app/migrate.ts, a fake in the tests. */
export interface MigrateClock {
  setTimer(ms: number, fn: () => void): { cancel(): void };
}

export type SenderState = 'sent' | 'confirmed' | 'moved' | 'taken back';

export interface SenderActions {
  /** Send `{"confirm":[...]}`; a throw means the receiver is gone. */
  confirm(indexes: number[]): void;
  /**
   * The batch is settled: `moved` are the receiver's now (close this copy with destroy(), never
   * end()); every other connection of the batch is this side's again (read it again).
   */
  settle(moved: ReadonlySet<number>): void;
}

/**
 * The sender's side of one batch, from the moment its bundle is queued: sent -> confirmed ->
 * moved, or taken back from either. Each event is one method; events after the end are ignored.
 */
export class BatchSender {
  state: SenderState = 'sent';
  #confirmed = new Set<number>();
  #timer: { cancel(): void } | undefined;

  constructor(
    readonly size: number,
    clock: MigrateClock,
    timeoutMs: number,
    private readonly actions: SenderActions,
  ) {
    this.#timer = clock.setTimer(timeoutMs, () => this.timeout());
  }

  /** The receiver's vote (`accept`). An empty one is a refusal. */
  accepted(indexes: readonly number[]): void {
    if (this.state !== 'sent') return;
    this.#timer?.cancel();
    const valid = indexes.filter((i) => Number.isInteger(i) && i >= 0 && i < this.size);
    if (valid.length === 0) return this.#settle(new Set());
    this.state = 'confirmed';
    this.#confirmed = new Set(valid);
    try {
      this.actions.confirm([...this.#confirmed]);
    } catch {
      // The receiver is gone before it could read the confirmation: it read none of them.
      this.#settle(new Set());
    }
  }

  /** The receiver's `adopted`: those are its own now; the rest come back. */
  adopted(indexes: readonly number[]): void {
    if (this.state !== 'confirmed') return;
    this.#settle(new Set(indexes.filter((i) => this.#confirmed.has(i))));
  }

  /** No vote in time: take everything back (the connection is then closed unconfirmed). */
  timeout(): void {
    if (this.state === 'sent') this.#settle(new Set());
  }

  /**
   * The connection ended (EOF, ECONNRESET) or a message made no sense, before `adopted`: the
   * receiver read none of the batch (it writes `adopted` first), so all of it comes back.
   */
  peerGone(): void {
    if (this.state === 'sent' || this.state === 'confirmed') this.#settle(new Set());
  }

  #settle(moved: Set<number>): void {
    this.#timer?.cancel();
    this.state = moved.size > 0 ? 'moved' : 'taken back';
    this.actions.settle(moved);
  }
}

export type ReceiverState = 'received' | 'adopted' | 'refused';

export interface ReceiverActions {
  /** Send `{"accept":[...]}`; a throw means the sender is gone. */
  accept(indexes: number[]): void;
  /**
   * Make connections of these (without reading them yet); returns those that could be made. The
   * rest are dropped by the caller's next action.
   */
  prepare(indexes: number[]): number[];
  /** Send `{"adopted":[...]}`. A throw is ignored: the sender only gives up a confirmed batch by dying. */
  ack(indexes: number[]): void;
  /** Start serving the adopted ones (after ack: nothing was read before it). */
  serve(indexes: number[]): void;
  /** Close this side's copy of these fds: they stay the sender's. */
  drop(indexes: number[]): void;
}

/**
 * The receiver's side of one batch, from the moment its bundle is in: received -> adopted, or
 * refused. `acceptable` are the indexes it can serve (a listening server, a trusted sender).
 */
export class BatchReceiver {
  state: ReceiverState = 'received';
  #offered: number[];
  #timer: { cancel(): void } | undefined;

  constructor(
    readonly size: number,
    acceptable: readonly number[],
    clock: MigrateClock,
    timeoutMs: number,
    private readonly actions: ReceiverActions,
  ) {
    this.#offered = acceptable.filter((i) => Number.isInteger(i) && i >= 0 && i < size);
    const all = Array.from({ length: size }, (_, i) => i);
    this.actions.drop(all.filter((i) => !this.#offered.includes(i)));
    if (this.#offered.length === 0) {
      this.state = 'refused';
      this.#send(() => this.actions.accept([]));
      return;
    }
    if (!this.#send(() => this.actions.accept(this.#offered))) {
      this.#refuse();
      return;
    }
    this.#timer = clock.setTimer(timeoutMs, () => this.timeout());
  }

  #send(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch {
      return false;
    }
  }

  /** The sender's `confirm`: adopt those of them offered, if this side still takes connections. */
  confirmed(indexes: readonly number[], stillReceiving = true): void {
    if (this.state !== 'received') return;
    this.#timer?.cancel();
    const wanted = stillReceiving ? indexes.filter((i) => this.#offered.includes(i)) : [];
    const made = wanted.length > 0 ? this.actions.prepare(wanted) : [];
    this.actions.drop(this.#offered.filter((i) => !made.includes(i)));
    this.state = made.length > 0 ? 'adopted' : 'refused';
    this.#send(() => this.actions.ack(made));
    if (made.length > 0) this.actions.serve(made);
  }

  /** No confirmation in time: refuse (the sender then sees the end without `adopted`). */
  timeout(): void {
    if (this.state === 'received') this.#refuse();
  }

  /** The sender closed without confirming (it took them back), or sent nonsense. */
  peerGone(): void {
    if (this.state === 'received') this.#refuse();
  }

  #refuse(): void {
    this.#timer?.cancel();
    this.state = 'refused';
    this.actions.drop(this.#offered);
  }
}
