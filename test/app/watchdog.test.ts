// The watchdog keep-alive against a real notify receiver (Python's socket module).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { notify } from '../../src/app/notify.js';
import { startWatchdog, stopWatchdog, watchdogEnabled } from '../../src/app/watchdog.js';
import { abstractName, FIXTURE, wrap, type Child } from './_helpers.js';

const RECV = path.join(import.meta.dirname, 'fixtures/notify-recv.py');
const children: Child[] = [];

async function receiver(): Promise<{ child: Child; addr: string }> {
  const addr = abstractName();
  const child = wrap(spawn('python3', [RECV, addr], { stdio: ['pipe', 'pipe', 'pipe'] }));
  children.push(child);
  expect(await child.json()).toEqual({ ready: true });
  return { child, addr };
}

afterEach(() => {
  stopWatchdog();
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[k];
  for (const c of children.splice(0)) c.proc.kill();
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
      `watchdog ping failed: can't notify NOTIFY_SOCKET '/nonexistent-sockact/${process.pid}': no such file or directory`,
    ]);
  });

  it('is unref\'d: a child that only started it exits by itself, after pinging', async () => {
    const { child: recv, addr } = await receiver();
    const env = { ...process.env, NOTIFY_SOCKET: addr, WATCHDOG_USEC: '60000000' };
    const app = wrap(spawn(process.execPath, [FIXTURE, 'watchdog'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    expect(await app.json()).toEqual({ usec: 60_000_000 });
    expect(await app.exited).toBe(0);
    expect((await recv.json()).text).toBe('WATCHDOG=1');
  });
});
