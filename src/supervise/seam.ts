/**
 * What the supervisor needs from the world, and nothing more: a clock and a way to start
 * children. The real ones (real.ts) use timers, spawn and a notify socket per child; the unit
 * tests pass fakes with virtual time and scripted children, as tableflip's tests do.
 */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Call `fn` once after `ms`. */
  setTimer(ms: number, fn: () => void): Timer;
}

/** How a child ended: its exit code or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
  /** It never ran: the reason spawn failed ("no such file or directory"). */
  startFailure?: string;
  /**
   * What it said last on stderr (an error line if there was one), when its output passes
   * through sockact (--prefix).
   */
  lastLine?: string;
}

export interface SpawnRequest {
  generation: number;
  /** The worker's index, 0..N-1 (SOCKACT_WORKER). */
  worker: number;
  /** Variables for this child on top of the launch environment. */
  env: Record<string, string>;
}

export interface ChildEvents {
  /** A notify datagram from the child, already checked (at most 4096 bytes, no NUL), as KEY=VALUE pairs. */
  notify(fields: ReadonlyMap<string, string>): void;
  /**
   * The child itself has ended, but processes it started are still in its process group (a
   * shell that did not exec): they are being stopped, and `exit` follows once they are gone.
   * Called at most once, before `exit`. The child is never ready from now on.
   */
  gone(status: ExitStatus): void;
  /** The child is gone (reaped). Called exactly once, also when it could not be started. */
  exit(status: ExitStatus): void;
}

export interface ChildHandle {
  readonly pid: number | undefined;
  /** Send a signal; a child that is already gone is not an error. */
  kill(signal: string): void;
  /**
   * Whether the child is seen waiting for connections on one of its sockets (readiness `auto`
   * for a program that does not speak sd_notify). Undefined when it cannot be told.
   */
  accepting?(): boolean;
}

export interface ProcessSeam {
  /** Start one child. Failures to start are reported through `events.exit` with `startFailure`, never synchronously. */
  spawn(request: SpawnRequest, events: ChildEvents): ChildHandle;
  /**
   * The workers serving now (ready, and kept: never a reload's candidate), called whenever that
   * changes, before a replaced worker is stopped; empty once stopping. Connection migration sends
   * an older generation's connections only to these (app/migrate.ts).
   */
  serving?(workers: readonly { generation: number; worker: number }[]): void;
}

/** sd_notify towards sockact's own service manager, when there is one (systemd's NOTIFY_SOCKET). */
export interface Upstream {
  send(fields: Readonly<Record<string, string>>): void;
}
