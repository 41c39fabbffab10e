// 0 and infinity switch off --watchdog-sec, --stop-timeout and --ready-timeout, as WatchdogSec=0,
// TimeoutStopSec=0 and TimeoutStartSec=0 do in systemd.service(5): real sockact, real children
// that notify over NOTIFY_SOCKET and take their time. Each has a finite counterpart that does
// cut the child short, so the "off" cases cannot pass by a child that was never in danger.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { perTest, PYTHON, sockact } from '../_support/launcher.js';

const { defer } = perTest();
const CHILD = join(import.meta.dirname, 'fixtures/off-child.py');

/** sockact supervising off-child.py MODE SECONDS with `options`; killed at the end of the test. */
function start(options: string[], mode: string, seconds: number) {
  const r = sockact(['-l', '127.0.0.1:0', ...options, '--', PYTHON, CHILD, mode, String(seconds)]);
  defer(() => r.child.kill('SIGKILL'));
  return r;
}

describe.each(['0', 'infinity'])('%s means off', (off) => {
  it(`--watchdog-sec ${off}: no WATCHDOG_USEC, and a child that never pings lives on`, async () => {
    const r = start(['--watchdog-sec', off], 'no-ping', 1);
    expect(await r.ended('the child')).toEqual({ code: 0, signal: null });
    expect(r.stdout).toBe('WATCHDOG_USEC=none\nalive\n');
    expect(r.stderr).not.toMatch(/SIGABRT|watchdog/);
  });

  it(`--stop-timeout ${off}: a slow drain after SIGTERM finishes, and sockact ends as the child did`, async () => {
    const r = start(['--stop-timeout', off], 'drain', 1);
    await r.waitFor('stderr', /ready in/);
    r.child.kill('SIGTERM');
    expect(await r.ended('the drain')).toEqual({ code: 0, signal: null });
    expect(r.stdout).toBe('drained\n');
    expect(r.stderr).not.toMatch(/SIGKILL/);
  });

  it(`--ready-timeout ${off}: a child that is ready late is waited for`, async () => {
    const r = start(['--ready', 'notify', '--ready-timeout', off], 'ready-late', 1);
    await r.waitFor('stderr', /ready in \d/);
    expect(await r.ended('the child')).toEqual({ code: 0, signal: null });
    expect(r.stdout).toBe('ready sent\n');
    expect(r.stderr).not.toMatch(/not ready within/);
  });
});

describe('a finite value still cuts the same child short', () => {
  it('--watchdog-sec 200ms: SIGABRT', async () => {
    const r = start(['--watchdog-sec', '200ms'], 'no-ping', 5);
    // 128+6: sockact ends as its child did, but never by a signal that would dump its own core (cli/exit.ts).
    expect(await r.ended('the watchdog')).toEqual({ code: 134, signal: null });
    expect(r.stderr).toMatch(/sent no WATCHDOG=1 for 200 ms: stopping it with SIGABRT/);
    expect(r.stdout).toBe('WATCHDOG_USEC=200000\n');
  });

  it('--stop-timeout 200ms: SIGKILL in the middle of the drain', async () => {
    const r = start(['--stop-timeout', '200ms'], 'drain', 5);
    await r.waitFor('stderr', /ready in/);
    r.child.kill('SIGTERM');
    expect(await r.ended('the stop timeout')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(r.stdout).toBe('');
  });

  it('--ready-timeout 200ms: stopped before it is ready', async () => {
    const r = start(['--ready', 'notify', '--ready-timeout', '200ms'], 'ready-late', 5);
    await r.waitFor('stderr', /not ready within 200 ms/);
    await r.ended('the ready timeout');
    expect(r.stdout).toBe('');
  });
});
