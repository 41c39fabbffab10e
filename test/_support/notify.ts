// The notify receiver the tests stand in for systemd with: an AF_UNIX datagram socket at
// NOTIFY_SOCKET. Two kinds: a separate process (Python's socket module, notify-recv.py) that
// reports each datagram as a JSON line, and one bound in this process and read without blocking,
// for tests that must see exactly what had arrived at a given moment (fake timers, "before X").
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import * as sys from '../../src/sys/index.js';
import { wrap, type Child } from './child.js';
import { PYTHON, ROOT } from './launcher.js';
import { abstractName } from './tmp.js';

export const NOTIFY_RECV = join(ROOT, 'test/_support/notify-recv.py');

/** One datagram as notify-recv.py reports it. */
export interface Datagram {
  hex: string;
  text: string;
  /** CLOCK_MONOTONIC at receipt, in µs. */
  mono: number;
  fds: { sock: boolean; fifo: boolean; ino: number; local?: unknown; listening?: boolean }[];
  flags: number;
  /** The sender's pid (with --creds). */
  pid?: number;
}

export interface Receiver {
  /** The NOTIFY_SOCKET value: a path or an @abstract name. */
  addr: string;
  child: Child;
  /** The next datagram (an error naming the receiver if none comes within `timeout` ms). */
  next(timeout?: number): Promise<Datagram>;
}

/**
 * Call at the top level of a test file. Gives a function that starts a receiver at `at` (default: a
 * fresh abstract name) with notify-recv.py's flags (--hold, --serve, --creds) and resolves once it is
 * bound; every receiver started in a test is killed after it.
 */
export function notifyReceivers(): (opts?: { at?: string; flags?: readonly string[] }) => Promise<Receiver> {
  const started: Child[] = [];
  afterEach(() => {
    for (const c of started.splice(0)) c.proc.kill();
  });
  return async ({ at = abstractName('notify'), flags = [] } = {}) => {
    const child = wrap(spawn(PYTHON, [NOTIFY_RECV, at, ...flags], { stdio: ['pipe', 'pipe', 'pipe'] }));
    started.push(child);
    expect(await child.json()).toEqual({ ready: true });
    return { addr: at, child, next: (timeout) => child.json(timeout) };
  };
}

/**
 * A receiver bound in this process, read without blocking: `take()` returns the texts of every
 * datagram queued now. Close it when done.
 */
export function inProcessReceiver(at = abstractName('notify')): {
  addr: string;
  take: () => string[];
  close: () => void;
} {
  const fd = sys.socket('unix', 'dgram');
  try {
    sys.bind(fd, { family: 'unix', path: at });
  } catch (err) {
    sys.closeFd(fd);
    throw err;
  }
  return {
    addr: at,
    take() {
      const got: string[] = [];
      for (let m = sys.recvmsg(fd); m; m = sys.recvmsg(fd)) got.push(m.data.toString());
      return got;
    },
    close: () => sys.closeFd(fd),
  };
}

/**
 * notify-creds.py: systemd's notify socket stood in for by a separate process that binds the path
 * it is given with SO_PASSCRED and prints `{"ready": true}`, then one JSON line per datagram.
 */
export const NOTIFY_CREDS = join(ROOT, 'test/supervise/fixtures/notify-creds.py');

/** What notify-creds.py has printed so far: each datagram's text with the pid that sent it. */
export function credsMessages(stdout: string): { pid: number; text: string }[] {
  return stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => JSON.parse(l) as { pid: number; text: string });
}
