// The watchdog keep-alive against a real notify receiver (Python's socket module).
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { notify } from '../../src/app/notify.js';
import { startWatchdog, stopWatchdog, watchdogEnabled } from '../../src/app/watchdog.js';
import { wrap } from '../_support/child.js';
import { inProcessReceiver, notifyReceivers } from '../_support/notify.js';
import { FIXTURE } from './_helpers.js';

const receiver = notifyReceivers();

afterEach(() => {
  vi.useRealTimers();
  stopWatchdog();
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[k];
});

describe('watchdog keep-alive', () => {
  it('pings WATCHDOG=1 at once and then again and again', async () => {
    const { child, addr } = await receiver();
    Object.assign(process.env, { NOTIFY_SOCKET: addr, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid) });
    expect(watchdogEnabled()).toBe(100_000);
    expect(startWatchdog()).toBe(100_000);
    // Idempotent: no second timer.
    expect(startWatchdog()).toBe(100_000);
    for (let i = 0; i < 3; i++) expect((await child.json()).text).toBe('WATCHDOG=1');
  });

  it('ready() starts it (and ready({ watchdog: false }) does not)', async () => {
    const { child, addr } = await receiver();
    Object.assign(process.env, { NOTIFY_SOCKET: addr, WATCHDOG_USEC: '100000' });
    notify.ready({ watchdog: false });
    notify.status('marker');
    expect((await child.json()).text).toBe('READY=1');
    // Nothing between READY=1 and the marker: no ping was sent.
    expect((await child.json()).text).toBe('STATUS=marker');
    notify.ready();
    expect((await child.json()).text).toBe('READY=1');
    expect((await child.json()).text).toBe('WATCHDOG=1');
  });

  it('stays off when WATCHDOG_PID is another process', async () => {
    const { child, addr } = await receiver();
    Object.assign(process.env, { NOTIFY_SOCKET: addr, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' });
    expect(startWatchdog()).toBe(0);
    notify.status('marker');
    expect((await child.json()).text).toBe('STATUS=marker');
  });

  it('malformed WATCHDOG_USEC is an error naming it', () => {
    process.env.WATCHDOG_USEC = '30s';
    expect(() => startWatchdog()).toThrow("WATCHDOG_USEC is not a number: '30s'");
  });

  it('a failing ping is one process warning, not a crash', async () => {
    Object.assign(process.env, { NOTIFY_SOCKET: `/nonexistent-sockact/${process.pid}`, WATCHDOG_USEC: '20000' });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    startWatchdog();
    // Several intervals pass; the same failure is reported once.
    await new Promise((r) => setTimeout(r, 200));
    process.off('warning', onWarning);
    expect(warnings.map((w) => w.message)).toEqual([
      `watchdog ping failed: can't notify NOTIFY_SOCKET '/nonexistent-sockact/${process.pid}': ` +
        `no such file or directory`,
    ]);
  });

  it("is unref'd: a child that only started it exits by itself, after pinging", async () => {
    const { child: recv, addr } = await receiver();
    const env = { ...process.env, NOTIFY_SOCKET: addr, WATCHDOG_USEC: '60000000' };
    const app = wrap(spawn(process.execPath, [FIXTURE, 'watchdog'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    expect(await app.json()).toEqual({ usec: 60_000_000 });
    expect(await app.exited).toBe(0);
    expect((await recv.json()).text).toBe('WATCHDOG=1');
  });

  it('pings every WATCHDOG_USEC/2, not every WATCHDOG_USEC (sd_watchdog_enabled(3)), on fake timers', () => {
    // The receiver is read without blocking: every ping is a datagram sent synchronously by the timer.
    const recv = inProcessReceiver();
    const addr = recv.addr;
    try {
      const pings = () => recv.take().filter((text) => text === 'WATCHDOG=1').length;
      vi.useFakeTimers();
      Object.assign(process.env, { NOTIFY_SOCKET: addr, WATCHDOG_USEC: '1000000' });
      expect(startWatchdog()).toBe(1_000_000);
      expect(pings()).toBe(1);
      vi.advanceTimersByTime(499);
      expect(pings()).toBe(0);
      vi.advanceTimersByTime(1);
      expect(pings()).toBe(1);
      // Ten intervals of WATCHDOG_USEC: twenty pings, one per half. Read as they come: the send
      // is blocking, as libsystemd's, and a unix datagram queue holds only ~10 (max_dgram_qlen).
      let total = 0;
      for (let i = 0; i < 20; i++) {
        vi.advanceTimersByTime(500);
        total += pings();
      }
      expect(total).toBe(20);
    } finally {
      recv.close();
    }
  });

  for (const value of ['abc', ' 200000']) {
    it(
      `ready() with WATCHDOG_USEC=${JSON.stringify(value)}: ` +
        `READY=1 is sent, ready() returns true, one warning names it`,
      async () => {
        const { child, addr } = await receiver();
        Object.assign(process.env, { NOTIFY_SOCKET: addr, WATCHDOG_USEC: value });
        const warnings: Error[] = [];
        const onWarning = (w: Error) => warnings.push(w);
        process.on('warning', onWarning);
        try {
          expect(notify.ready()).toBe(true);
          expect((await child.json()).text).toBe('READY=1');
          // Warnings are emitted on the next tick.
          await new Promise((r) => setImmediate(r));
        } finally {
          process.off('warning', onWarning);
        }
        expect(warnings.map((w) => w.message)).toEqual([
          `watchdog not started: ` +
            `WATCHDOG_USEC ${value === 'abc' ? 'is not a number' : 'must be a plain decimal number'}: '${value}'`,
        ]);
      },
    );
  }

  it(
    "agrees with libsystemd's sd_watchdog_enabled() on plain decimal, " +
      'and departs from it (documented) on the C forms',
    () => {
      // Rows: [WATCHDOG_USEC, what sockact gives: usec, or the start of its error]
      const rows: [string, number | string][] = [
        ['5000000', 5_000_000],
        ['1', 1],
        // libsystemd parses with strtoull base 0 after whitespace: these pass there.
        [' 5000000', 'WATCHDOG_USEC must be a plain decimal number'],
        ['+5000000', 'WATCHDOG_USEC must be a plain decimal number'],
        ['05000000', 'WATCHDOG_USEC must be a plain decimal number'], // octal there: 1310720
        ['0x10', 'WATCHDOG_USEC must be a plain decimal number'],
        ['abc', 'WATCHDOG_USEC is not a number'],
      ];
      const sd: [string, number, number][] = JSON.parse(
        execFileSync(
          '/usr/bin/python3',
          [path.join(import.meta.dirname, 'fixtures/sd-watchdog.py'), ...rows.map((r) => r[0])],
          { encoding: 'utf8' },
        ),
      );
      for (const [i, [value, ours]] of rows.entries()) {
        process.env.WATCHDOG_USEC = value;
        const [, r, usec] = sd[i]!;
        if (typeof ours === 'number') {
          expect([value, watchdogEnabled()]).toEqual([value, ours]);
          expect([value, r, usec]).toEqual([value, 1, ours]);
        } else {
          expect(() => watchdogEnabled()).toThrow(`${ours}: '${value}'`);
          // The departure: libsystemd accepts every form but 'abc'.
          expect([value, r > 0]).toEqual([value, value !== 'abc']);
        }
      }
    },
  );
});
