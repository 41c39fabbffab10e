// upgrader(): an app that runs alone starts a new copy of itself with its sockets, waits for the
// new copy's notify.ready(), then drains. Real processes (the built package), a real HTTP load from
// this process, a real notify receiver (Python) standing in for systemd.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { wrap, type Child } from '../_support/child.js';
import { httpGet } from '../_support/http.js';
import { notifyReceivers } from '../_support/notify.js';
import { fileTempDir } from '../_support/tmp.js';
import { listener, runActivated } from './_helpers.js';

/** JSON read back from a child process: its shape is what the assertions check. */
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON from a child, checked field by field below.
type Any = any;

const FIXTURE = path.join(import.meta.dirname, 'fixtures/upgrade-app.mjs');
const dir = fileTempDir();
const receiver = notifyReceivers();
const pids = new Set<number>();
const children: Child[] = [];
let n = 0;

afterEach(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  pids.clear();
  for (const c of children.splice(0)) c.proc.kill('SIGKILL');
});

/** Whether a process has ended (gone, or a zombie nobody reaped yet). */
function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** The parent pid of a running process (/proc/PID/stat, the field after the state). */
function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function untilEnded(pid: number): Promise<void> {
  for (let i = 0; i < 400 && !ended(pid); i++) await new Promise((r) => setTimeout(r, 25));
  expect(ended(pid)).toBe(true);
}

interface App {
  child: Child;
  /** The next JSON line matching `pred` (lines of every copy share one stdout). */
  next(pred: (line: Any) => boolean): Promise<Any>;
  port: number;
  nextMode: (mode: 'ok' | 'exit' | 'hang') => void;
}

async function startApp(env: Record<string, string> = {}, activated = false): Promise<{ app: App; first: Any }> {
  const modeFile = path.join(dir, `next-${n++}`);
  writeFileSync(modeFile, 'ok');
  const fullEnv = { UPGRADE_NEXT: modeFile, ...env };
  let child: Child;
  if (activated) {
    const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    child = runActivated([l.fd], process.execPath, [FIXTURE], { ...fullEnv, LISTEN_FDNAMES: 'web' });
  } else {
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !/^(LISTEN_|NOTIFY_SOCKET|WATCHDOG_)/.test(k)) base[k] = v;
    child = wrap(
      spawn(process.execPath, [FIXTURE], { env: { ...base, PORT: '0', ...fullEnv }, stdio: ['pipe', 'pipe', 'pipe'] }),
    );
  }
  children.push(child);
  const next = async (pred: (line: Any) => boolean) => {
    for (;;) {
      const line = await child.json();
      pids.add(line.pid);
      if (pred(line)) return line;
    }
  };
  const first = await next((l) => l.ready);
  const port = Number(first.address.split(':').pop());
  return { app: { child, next, port, nextMode: (mode) => writeFileSync(modeFile, mode) }, first };
}

/** The old process's fd table once it is idle (same count three reads in a row). */
async function settledFds(pid: number): Promise<number> {
  let last = -1;
  for (let same = 0, i = 0; same < 3 && i < 100; i++) {
    const now = readdirSync(`/proc/${pid}/fd`).length;
    same = now === last ? same + 1 : 0;
    last = now;
    await new Promise((r) => setTimeout(r, 30));
  }
  return last;
}

/** GET / with Connection: close (or on a keep-alive agent): the pid that answered. */
async function get(port: number, agent: http.Agent | false = false): Promise<number> {
  const res = await httpGet({ host: '127.0.0.1', port }, { agent, headers: agent ? {} : { connection: 'close' } });
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  return Number(res.body);
}

/** A bounded load: `workers` clients in a loop until stopped (at most `max` requests in all). */
function load(port: number, workers: number, agent: http.Agent | false, max = 20_000) {
  let stop = false;
  const stats = { ok: 0, failed: 0, errors: new Map<string, number>(), pids: new Set<number>() };
  const runs = Array.from({ length: workers }, async () => {
    while (!stop && stats.ok + stats.failed < max) {
      try {
        stats.pids.add(await get(port, agent));
        stats.ok++;
      } catch (err) {
        stats.failed++;
        const what = (err as Error).message;
        stats.errors.set(what, (stats.errors.get(what) ?? 0) + 1);
      }
    }
  });
  return {
    stats,
    async stop() {
      stop = true;
      await Promise.all(runs);
      return stats;
    },
  };
}

/** SIGHUP the serving copy; resolves with the new copy's pid once the old one has ended. */
async function upgradeBySignal(app: App, pid: number): Promise<number> {
  process.kill(pid, 'SIGHUP');
  const ready = await app.next((l) => l.ready);
  expect(ready.pid).not.toBe(pid);
  expect(ready).toMatchObject({ activated: true, address: `127.0.0.1:${app.port}` });
  await untilEnded(pid);
  return ready.pid;
}

describe('upgrader(): a new copy takes over the sockets', () => {
  for (const mode of ['close', 'keep-alive'] as const) {
    it(`3 upgrades on SIGHUP under a ${mode} load: 0 failed requests, every copy served`, async () => {
      const { app, first } = await startApp({}, true);
      expect(first).toMatchObject({ activated: true, fd: 3 });
      const agent = mode === 'keep-alive' ? new http.Agent({ keepAlive: true, maxSockets: 4 }) : false;
      const l = load(app.port, 4, agent);
      let pid = first.pid;
      const seen = [pid];
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 300));
        pid = await upgradeBySignal(app, pid);
        seen.push(pid);
      }
      await new Promise((r) => setTimeout(r, 300));
      const stats = await l.stop();
      if (agent) agent.destroy();
      expect(stats.ok).toBeGreaterThan(0);
      // Nothing fails, keep-alive included: shutdown() answers with Connection: close while it drains.
      expect(Object.fromEntries(stats.errors)).toEqual({});
      expect(stats.failed).toBe(0);
      // Every copy answered, and the last one serves now.
      expect([...stats.pids].sort()).toEqual([...seen].sort());
      expect(await get(app.port)).toBe(pid);
    });
  }

  it(
    'upgrades to another program (command): ' + 'libsystemd there sees exact LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES',
    async () => {
      const next = path.join(import.meta.dirname, 'fixtures/upgrade-next.py');
      const { app, first } = await startApp({ UPGRADE_COMMAND: JSON.stringify(['/usr/bin/python3', next]) }, true);
      process.kill(first.pid, 'SIGHUP');
      const line = await app.next((l) => l.next);
      expect(line).toEqual({ pid: line.pid, next: true, n: 1, names: ['web'] });
      await untilEnded(first.pid);
      expect(await get(app.port)).toBe(line.pid);
    },
  );

  it('passes a socket listen() bound itself (not activated) under the name listen() was given', async () => {
    const { app, first } = await startApp();
    expect(first).toMatchObject({ activated: false, fd: null });
    const pid = await upgradeBySignal(app, first.pid);
    expect(await get(app.port)).toBe(pid);
  });
});

describe('upgrader(): a failing new copy leaves the old one serving', () => {
  it('a copy that exits at start: the caller gets the reason; a second call meanwhile is refused', async () => {
    const { app, first } = await startApp();
    const fdsBefore = await settledFds(first.pid);
    app.nextMode('exit');
    process.kill(first.pid, 'SIGUSR2');
    const outcomes = [await app.next((l) => l.error || l.upgraded), await app.next((l) => l.error || l.upgraded)];
    expect(outcomes).toEqual(
      expect.arrayContaining([
        { pid: first.pid, code: 'ERR_UPGRADE_RUNNING', error: 'an upgrade is already running' },
        {
          pid: first.pid,
          code: 'ERR_UPGRADE',
          error: expect.stringMatching(/^the new copy \(pid \d+\) exited with code 3 before it was ready$/),
        },
      ]),
    );
    expect(await get(app.port)).toBe(first.pid);
    // Nothing is left half-done: no fd of the attempt stays open, and the next upgrade works.
    expect(await settledFds(first.pid)).toBe(fdsBefore);
    app.nextMode('ok');
    const pid = await upgradeBySignal(app, first.pid);
    expect(await get(app.port)).toBe(pid);
  });

  it(
    'a copy never ready within the timeout is killed, ' +
      'the failure is one warning line, and the old one still serves',
    async () => {
      const { app, first } = await startApp({ UPGRADE_TIMEOUT: '1500' });
      app.nextMode('hang');
      process.kill(first.pid, 'SIGHUP');
      const hung = await app.next((l) => l.hanging);
      await untilEnded(hung.pid);
      for (let i = 0; i < 100 && !app.child.stderr().includes('upgrade failed'); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(app.child.stderr()).toMatch(
        new RegExp(
          `\\(node:${first.pid}\\) \\[SOCKACT_UPGRADE\\] Warning: upgrade failed: ` +
            `the new copy \\(pid ${hung.pid}\\) was not ready within 1500 ms: killed it\n`,
        ),
      );
      expect(ended(first.pid)).toBe(false);
      expect(await get(app.port)).toBe(first.pid);
    },
  );
});

describe('upgrader(): one upgrade at a time, across copies', () => {
  it(
    'a SIGHUP to the new copy before it is ready is refused: ' +
      'no third copy, the first never serves beside a newer one',
    async () => {
      const { app, first } = await startApp({ UPGRADE_TIMEOUT: '3000' });
      app.nextMode('hang');
      process.kill(first.pid, 'SIGHUP');
      const middle = await app.next((l) => l.hanging);
      app.nextMode('ok');
      process.kill(middle.pid, 'SIGHUP');
      // The first process gives up on the copy that never got ready and kills it.
      await untilEnded(middle.pid);
      expect(ended(first.pid)).toBe(false);
      const pids = new Set<number>();
      for (let i = 0; i < 20; i++) pids.add(await get(app.port));
      expect([...pids]).toEqual([first.pid]);
      expect(app.child.stderr()).toMatch(
        new RegExp(
          `\\(node:${middle.pid}\\) \\[SOCKACT_UPGRADE\\] Warning: upgrade failed: ` +
            `not ready yet: an upgrade is refused until this process has called notify.ready\\(\\)\n`,
        ),
      );
    },
  );

  it('a call while the new copy starts is refused naming that copy: its pid, in the message and as value', async () => {
    const { app, first } = await startApp();
    app.nextMode('hang');
    process.kill(first.pid, 'SIGHUP');
    // The new copy runs (it listens, and is never ready): the first process waits for it.
    const copy = await app.next((l) => l.hanging);
    // The pid the copy reports is the one the first process started (its child; no shell in between).
    expect(copy.pid).not.toBe(first.pid);
    expect(parentPid(copy.pid)).toBe(first.pid);
    process.kill(first.pid, 'SIGUSR2');
    const outcomes = [await app.next((l) => l.error || l.upgraded), await app.next((l) => l.error || l.upgraded)];
    const refused = {
      pid: first.pid,
      code: 'ERR_UPGRADE_RUNNING',
      error: `an upgrade is already running (new copy pid ${copy.pid})`,
      value: copy.pid,
    };
    expect(outcomes).toEqual([refused, refused]);
    // The refusals left the running upgrade alone: it fails only when its copy dies, and the first process serves on.
    process.kill(copy.pid, 'SIGKILL');
    await untilEnded(copy.pid);
    for (let i = 0; i < 100 && !app.child.stderr().includes('upgrade failed'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(app.child.stderr()).toContain(
      `upgrade failed: the new copy (pid ${copy.pid}) was killed by SIGKILL before it was ready\n`,
    );
    expect(ended(first.pid)).toBe(false);
    expect(await get(app.port)).toBe(first.pid);
  });

  it(
    'a ready copy refuses to upgrade while the process ' + 'it replaced still runs, and upgrades once it is gone',
    async () => {
      const { app, first } = await startApp({ UPGRADE_EXIT: '0' });
      process.kill(first.pid, 'SIGHUP');
      const second = await app.next((l) => l.ready);
      process.kill(second.pid, 'SIGUSR2');
      const refused = await app.next((l) => l.error);
      expect(refused).toEqual({
        pid: second.pid,
        code: 'ERR_UPGRADE_OLD_RUNNING',
        error: 'the process this one replaced is still running: an upgrade is refused until it has exited',
        value: first.pid,
      });
      process.kill(first.pid, 'SIGKILL');
      await untilEnded(first.pid);
      // The kernel reparents the copy once every thread of the old process is gone: after that only.
      const ppid = () => parentPid(second.pid);
      for (let i = 0; i < 250 && ppid() === first.pid; i++) await new Promise((r) => setTimeout(r, 20));
      expect(ppid()).not.toBe(first.pid);
      process.kill(second.pid, 'SIGHUP');
      const third = await app.next((l) => l.ready);
      expect(third.pid).not.toBe(second.pid);
      expect(await get(app.port)).toBe(third.pid);
    },
  );
});

describe('upgrader() under systemd (a notify receiver stands in for it)', () => {
  it(
    'sends MAINPID=<new pid> (never STOPPING=1), ' + 'and the new copy still reaches NOTIFY_SOCKET afterwards',
    async () => {
      const sock = path.join(dir, `notify-${n++}`);
      const { child: recv } = await receiver({ at: sock, flags: ['--creds'] });
      const { app, first } = await startApp({ NOTIFY_SOCKET: sock });
      const seen: { pid: number; text: string }[] = [];
      const until = async (pred: (m: { pid: number; text: string }) => boolean) => {
        while (!seen.some(pred)) {
          const m = await recv.json();
          seen.push({ pid: m.pid, text: m.text });
        }
      };
      await until((m) => m.text === 'READY=1' && m.pid === first.pid);
      const pid = await upgradeBySignal(app, first.pid);
      await until((m) => m.text === `MAINPID=${pid}`);
      await until((m) => m.text === 'READY=1' && m.pid === pid);
      expect(seen.find((m) => m.text === `MAINPID=${pid}`)!.pid).toBe(first.pid);
      // The old process is gone; the new one still talks to the same NOTIFY_SOCKET.
      process.kill(pid, 'SIGUSR1');
      await until((m) => m.text === 'STATUS=still here' && m.pid === pid);
      expect(seen.map((m) => m.text)).not.toContain('STOPPING=1');
    },
  );
});
