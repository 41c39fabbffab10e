// The supervisor end to end: real sockact, real children on a real socket, a real load on
// loopback (bounded in count), real peers for readiness. No timing is asserted: only what was
// answered, by whom, and what failed.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  hostPort,
  listeningOn,
  perTest,
  PYTHON,
  ROOT,
  run,
  SD_WATCHDOG_TREE,
  SOCKACT,
  sockact,
  sockactOutcome,
  type Run,
} from '../_support/launcher.js';
import { getCounted, type LoadResult, loadDuring } from '../_support/http-load.js';
import { credsMessages, NOTIFY_CREDS } from '../_support/notify.js';

const APP = join(ROOT, 'test/supervise/fixtures/app.mjs');
const { defer, dir } = perTest();

/** `total` GET requests over `concurrency` connections; every failure is kept with its reason. */
async function load(port: number, total: number, concurrency: number, keepAlive: boolean): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive, maxSockets: concurrency });
  const result: LoadResult = { ok: 0, failed: [], bodies: new Map() };
  let next = 0;
  const one = () => getCounted(port, agent, result, keepAlive ? {} : { connection: 'close' });
  const worker = async () => {
    while (next < total) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return result;
}

function start(args: string[], env: Record<string, string> = {}): Run {
  const r = sockact(args, { env: { ...process.env, ...env } });
  defer(() => r.child.kill('SIGKILL'));
  return r;
}

const control = sockactOutcome;

/** pids of the live children of `pid`, and whether any is a zombie. */
function childrenOf(pid: number): { pid: number; state: string }[] {
  const out: { pid: number; state: string }[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === pid) out.push({ pid: Number(p), state: state! });
    } catch {
      // gone
    }
  }
  return out;
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe('supervisor end to end: reloads under load', () => {
  for (const keepAlive of [false, true]) {
    it(`loses nothing over 5 reloads under load (${keepAlive ? 'keep-alive' : 'Connection: close'})`, async () => {
      const name = `e2e-load-${keepAlive}-${process.pid}`;
      const r = start(['-l', '127.0.0.1:0', '--name', name, '--', process.execPath, APP]);
      const { port } = hostPort(await listeningOn(r));
      await r.waitFor('stderr', /ready, generation 1/);
      const reloads: number[] = [];
      // The load lasts until the 5th reload is done (and 200 requests more), however fast the
      // requests go: a fixed count could all be answered before generation 2 serves.
      const result = await loadDuring(
        port,
        16,
        async () => {
          for (let i = 0; i < 5; i++) {
            const c = await control(['reload', '--name', name]);
            reloads.push(c.code ?? -1);
          }
        },
        { keepAlive },
      );
      expect(reloads).toEqual([0, 0, 0, 0, 0]);
      expect(result.failed).toEqual([]);
      // Answered by several generations, the last one included, and only one process serves at the end.
      expect(result.bodies.size).toBeGreaterThan(1);
      const last = [...r.stderr.matchAll(/started \S+ \S+ as pid (\d+)/g)].at(-1)![1];
      expect(result.bodies.get(`pid ${last} worker 0`)).toBeGreaterThan(0);
      const status = await control(['status', '--name', name]);
      expect(status.stdout).toMatch(/generation 6, 5 reloads \(0 failed\)/);
      expect(status.stdout.match(/\(serving\)/g)).toHaveLength(1);
      r.child.kill('SIGTERM');
      expect(await r.exited).toEqual({ code: 0, signal: null });
    });
  }
});

describe('supervisor end to end: rollback', () => {
  it(
    'a new generation that exits at start is rolled back: ' +
      'sockact reload exits 1 with the reason; the old one keeps serving',
    async () => {
      const d = dir();
      const broken = join(d, 'broken');
      const name = `e2e-rollback-${process.pid}`;
      const r = start(['-l', '127.0.0.1:0', '--name', name, '--', process.execPath, APP], { FAIL_IF: broken });
      const { port } = hostPort(await listeningOn(r));
      const first = Number((await r.waitFor('stderr', /started \S+ \S+ as pid (\d+)/))[1]);
      await r.waitFor('stderr', /ready, generation 1/);
      writeFileSync(broken, '');
      const failed = await control(['reload', '--name', name]);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(
        /^sockact: reload failed: pid \d+ \(generation 2\) exited with code 1 before it was ready; generation 1 keeps serving\n$/,
      );
      const during = await load(port, 50, 4, false);
      expect([...during.bodies.keys()]).toEqual([`pid ${first} worker 0`]);
      // The next try, once fixed, goes through.
      rmSync(broken);
      expect((await control(['reload', '--name', name])).code).toBe(0);
      const after = await load(port, 20, 2, false);
      expect([...after.bodies.keys()]).not.toContain(`pid ${first} worker 0`);
    },
  );

  it('a new generation that is never ready is stopped after --ready-timeout; the old one keeps serving', async () => {
    const d = dir();
    const slow = join(d, 'slow');
    const name = `e2e-slow-${process.pid}`;
    const r = start(
      ['-l', '127.0.0.1:0', '--ready', 'notify', '--ready-timeout', '1s', '--name', name, '--', process.execPath, APP],
      { SLOW_IF: slow },
    );
    const { port } = hostPort(await listeningOn(r));
    const first = Number((await r.waitFor('stderr', /started \S+ \S+ as pid (\d+)/))[1]);
    await r.waitFor('stderr', /ready, generation 1/);
    writeFileSync(slow, '');
    const failed = await control(['reload', '--name', name]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(
      /^sockact: reload failed: pid \d+ \(generation 2\) was not ready within 1\.0 s; generation 1 keeps serving\n$/,
    );
    const during = await load(port, 20, 2, false);
    expect([...during.bodies.keys()]).toEqual([`pid ${first} worker 0`]);
  });
});

describe('supervisor end to end: restarts and stop', () => {
  it(
    'a crashed child is replaced while the socket keeps accepting: ' + 'a request made in the gap is answered',
    async () => {
      const r = start(['-l', '127.0.0.1:0', '--restart', 'on-failure', '--', process.execPath, APP]);
      const { port } = hostPort(await listeningOn(r));
      const first = Number((await r.waitFor('stderr', /started \S+ \S+ as pid (\d+)/))[1]);
      await r.waitFor('stderr', /ready, generation 1/);
      process.kill(first, 'SIGKILL');
      // Nobody serves right now; the connection waits in the backlog for the next child.
      const result = await load(port, 1, 1, false);
      expect(result.failed).toEqual([]);
      expect([...result.bodies.keys()][0]).not.toBe(`pid ${first} worker 0`);
      expect(r.stderr).toContain(`pid ${first} killed by SIGKILL`);
      expect(r.stderr).toMatch(/restarting it in 100 ms/);
    },
  );

  it('a child that ignores the stop signal is killed after --stop-timeout; no orphan, no zombie', async () => {
    const r = start(['-l', '127.0.0.1:0', '--stop-timeout', '500ms', '--', process.execPath, APP], {
      IGNORE_TERM: '1',
    });
    const pid = Number((await r.waitFor('stderr', /started \S+ \S+ as pid (\d+)/))[1]);
    await r.waitFor('stderr', /ready, generation 1/);
    r.child.kill('SIGTERM');
    await r.waitFor('stderr', /still running 500 ms after SIGTERM: sending SIGKILL/);
    expect(await r.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('gives up on a crash loop, naming the cause: the program bound a port itself (EADDRINUSE)', async () => {
    // The classic mistake: the program ignores fd 3 and binds a port of its own, which is taken.
    const taken = http.createServer();
    await new Promise<void>((res) => taken.listen(0, '127.0.0.1', res));
    defer(() => taken.close());
    const port = (taken.address() as { port: number }).port;
    const r = start([
      '-l',
      '127.0.0.1:0',
      '--restart',
      'always',
      '--restart-delay',
      '10ms',
      '--prefix',
      '--',
      process.execPath,
      '-e',
      `require('node:net').createServer().listen(${port}, '127.0.0.1')`,
    ]);
    expect((await r.exited).code).toBe(1);
    expect(r.stderr).toMatch(
      /sockact: giving up: 6 restarts within 10 s; the last one exited with code 1: it bound the port itself and got EADDRINUSE; adopt the inherited socket instead/,
    );
    // --prefix: each line the children wrote says which child wrote it
    expect(r.stdout + r.stderr).toMatch(/^\[1 \d+\] .*EADDRINUSE/m);
  });
});

describe('supervisor end to end: workers and watch', () => {
  it('--workers 2: both serve the one socket, each with its SOCKACT_WORKER', async () => {
    const name = `e2e-workers-${process.pid}`;
    const r = start(['-l', '127.0.0.1:0', '--workers', '2', '--name', name, '--', process.execPath, APP]);
    const { port } = hostPort(await listeningOn(r));
    await r.waitFor('stderr', /2 of 2 workers ready, generation 1/);
    const result = await load(port, 400, 8, false);
    expect(result.failed).toEqual([]);
    expect([...result.bodies.keys()].map((b) => b.split(' ')[3]).sort()).toEqual(['0', '1']);
    const reload = await control(['reload', '--name', name]);
    expect(reload.code).toBe(0);
    const status = await control(['status', '--name', name]);
    expect(status.stdout.match(/generation 2 {2}ready \(serving\)/g)).toHaveLength(2);
  });

  it(
    '--watch reloads on a change; ' +
      'a broken save leaves the last good generation serving, and the next save tries again',
    async () => {
      const d = dir();
      const src = join(d, 'src');
      execFileSync('mkdir', ['-p', join(src, 'node_modules')]);
      const broken = join(d, 'broken');
      const r = start(['-l', '127.0.0.1:0', '--watch', src, '--watch-debounce', '100ms', '--', process.execPath, APP], {
        FAIL_IF: broken,
      });
      const { port } = hostPort(await listeningOn(r));
      await r.waitFor('stderr', /ready, generation 1/);
      writeFileSync(join(src, 'a.js'), '1');
      await r.waitFor('stderr', /reloaded: generation 2 ready/);
      writeFileSync(join(src, 'node_modules', 'ignored.js'), '1'); // never a reload
      writeFileSync(broken, '');
      writeFileSync(join(src, 'a.js'), '2');
      await r.waitFor('stderr', /reload failed: .*generation 2 keeps serving/);
      const serving = await load(port, 10, 2, false);
      expect(serving.failed).toEqual([]);
      rmSync(broken);
      writeFileSync(join(src, 'a.js'), '3');
      await r.waitFor('stderr', /reloaded: generation 4 ready/);
      expect(r.stderr).not.toMatch(/ignored\.js/);
    },
  );
});

describe('supervisor end to end: under systemd (a real notify receiver stands in)', () => {
  it(
    'READY=1 once ready; RELOADING=1 with MONOTONIC_USEC then READY=1 around a reload; ' +
      'STOPPING=1; all from its own pid',
    async () => {
      const d = dir();
      const sock = join(d, 'notify');
      const recv = run(PYTHON, [NOTIFY_CREDS, sock]);
      defer(() => recv.child.kill('SIGKILL'));
      await recv.waitFor('stdout', /"ready": true/);
      const r = start(['-l', '127.0.0.1:0', '--', process.execPath, APP], { NOTIFY_SOCKET: sock });
      await recv.waitFor('stdout', /READY=1/);
      r.child.kill('SIGHUP');
      await r.waitFor('stderr', /reloaded: generation 2/);
      await recv.waitFor('stdout', /generation 2/);
      r.child.kill('SIGTERM');
      await r.exited;
      await recv.waitFor('stdout', /STOPPING=1/);
      const msgs = credsMessages(recv.stdout);
      expect(new Set(msgs.map((m) => m.pid))).toEqual(new Set([r.child.pid])); // MAINPID never changes
      const kinds = msgs
        .map((m) =>
          m.text
            .split('\n')
            .filter((l) => /^(READY|RELOADING|STOPPING)=1$/.test(l))
            .join('+'),
        )
        .filter(Boolean);
      expect(kinds).toEqual(['READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
      expect(msgs.find((m) => m.text.includes('RELOADING=1'))!.text).toMatch(/MONOTONIC_USEC=\d+/);
      expect(msgs.map((m) => /STATUS=(.*)/.exec(m.text)?.[1]).filter(Boolean)).toContain(
        `ready, generation 2 (pid ${/pid (\d+) \(generation 2\) ready/.exec(r.stderr)![1]})`,
      );
    },
  );

  it(
    'readiness from programs nobody here wrote: ' + 'systemd-notify --ready, and Python systemd.daemon.notify',
    async () => {
      const peers: [string, string[]][] = [['systemd-notify', ['sh', '-c', 'systemd-notify --ready; exec sleep 30']]];
      let python = false;
      try {
        execFileSync(PYTHON, ['-c', 'import systemd.daemon'], { stdio: 'ignore' });
        python = true;
        peers.push([
          'python3-systemd',
          [
            PYTHON,
            '-c',
            'import time; from systemd import daemon; time.sleep(0.3); daemon.notify("READY=1"); time.sleep(30)',
          ],
        ]);
      } catch {
        // python3-systemd is not installed (a bare vitest run): npm test installs it first (test/_support/peers.sh)
      }
      expect(python || !process.env.CI).toBe(true);
      for (const [, cmd] of peers) {
        const r = start(['-l', '127.0.0.1:0', '--ready', 'notify', '--ready-timeout', '20s', '--', ...cmd]);
        await r.waitFor('stderr', /ready in \d+ (ms|\.\d s) \(READY=1\)/);
        r.child.kill('SIGTERM');
        await r.exited;
      }
    },
  );
});

describe("supervisor end to end: the children's watchdog, as libsystemd's sd_watchdog_enabled() sees it", () => {
  /**
   * sockact as a unit with WatchdogSec=2s starts it: its own NOTIFY_SOCKET (a real receiver stands
   * in), WATCHDOG_USEC and WATCHDOG_PID (sockact's pid: sh execs it), and nothing else of an outer
   * manager's. The program is sd-watchdog-tree.py: the child and a Python it starts ask libsystemd.
   */
  async function underSystemd(args: string[], program: string[]): Promise<{ r: Run; recv: Run }> {
    const sock = join(dir(), 'notify');
    const recv = run(PYTHON, [NOTIFY_CREDS, sock]);
    defer(() => recv.child.kill('SIGKILL'));
    await recv.waitFor('stdout', /"ready": true/);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(LISTEN_|WATCHDOG_|NOTIFY_SOCKET$)/.test(k)) env[k] = v;
    const sh = 'WATCHDOG_USEC=2000000 WATCHDOG_PID=$$ exec "$0" "$@"';
    const r = run('/bin/sh', ['-c', sh, process.execPath, SOCKACT, '-l', '127.0.0.1:0', ...args, '--', ...program], {
      env: { ...env, NOTIFY_SOCKET: sock },
    });
    defer(() => r.child.kill('SIGKILL'));
    return { r, recv };
  }

  interface Answer {
    pid: number;
    r: number;
    usec: number;
    env: { WATCHDOG_USEC: string | null; WATCHDOG_PID: string | null };
  }

  async function answers(r: Run): Promise<{ child: Answer; grandchild: Answer }> {
    return JSON.parse((await r.waitFor('stdout', /^\{"child".*\}$/m))[0]);
  }

  it(
    '--watchdog-sec 1s: the child has it (its own pid in WATCHDOG_PID), ' +
      'the Python it starts does not, and libsystemd pings keep the child alive',
    async () => {
      const { r, recv } = await underSystemd(
        ['--watchdog-sec', '1s', '--ready', 'notify', '--ready-timeout', '30s'],
        [PYTHON, SD_WATCHDOG_TREE, '--ping'],
      );
      const pid = Number((await r.waitFor('stderr', /started .* as pid (\d+)/))[1]);
      const { child, grandchild } = await answers(r);
      // The pid sockact started is the one that asks: the trampoline execs the program in place.
      expect(child).toEqual({
        pid,
        r: 1,
        usec: 1_000_000,
        env: { WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(pid) },
      });
      // Same environment, another pid: sd_watchdog_enabled() answers 0, not an error.
      expect(grandchild.pid).not.toBe(pid);
      expect(grandchild).toEqual({
        pid: grandchild.pid,
        r: 0,
        usec: 0,
        env: { WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(pid) },
      });
      await r.waitFor('stderr', new RegExp(`pid ${pid} ready in .* \\(READY=1\\)`));
      // sockact's own WATCHDOG_USEC (2 s) is for its pings upstream, at half of it: the third comes
      // well past the child's 1 s, which only the child's WATCHDOG=1 through libsystemd re-armed.
      await recv.waitFor('stdout', /(?:WATCHDOG=1.*){3}/s);
      const pings = credsMessages(recv.stdout).filter((m) => m.text.split('\n').includes('WATCHDOG=1'));
      expect(new Set(pings.map((m) => m.pid))).toEqual(new Set([r.child.pid]));
      expect(r.stderr).not.toMatch(/WATCHDOG=1 for/);
      expect([...r.stderr.matchAll(/started .* as pid (\d+)/g)].map((m) => Number(m[1]))).toEqual([pid]);
      r.child.kill('SIGTERM');
      await r.ended('SIGTERM');
    },
  );

  it(
    '--wrapper --watchdog-sec 1s: the app behind a shell that does ' +
      'not exec gets WATCHDOG_USEC alone, so its own pings keep it alive',
    async () => {
      // With WATCHDOG_PID naming the shell, libsystemd would tell the app the watchdog is not its
      // own: it would never ping, and sockact would abort the shell every second. The shell passes
      // SIGTERM on, as npm does (signals reach the program sockact started, not its group).
      const program = [
        '/bin/sh',
        '-c',
        `"${PYTHON}" "${SD_WATCHDOG_TREE}" --ping & p=$!; trap 'kill $p; wait $p' TERM; wait $p; echo after`,
      ];
      const { r } = await underSystemd(
        ['--wrapper', '--watchdog-sec', '1s', '--ready', 'notify', '--ready-timeout', '30s'],
        program,
      );
      const shell = Number((await r.waitFor('stderr', /started .* as pid (\d+)/))[1]);
      const { child } = await answers(r);
      expect(child.pid).not.toBe(shell);
      expect(child).toEqual({
        pid: child.pid,
        r: 1,
        usec: 1_000_000,
        env: { WATCHDOG_USEC: '1000000', WATCHDOG_PID: null },
      });
      await r.waitFor('stderr', new RegExp(`pid ${shell} ready in .* \\(READY=1\\)`));
      await new Promise((res) => setTimeout(res, 2500)); // more than twice the child's interval
      expect(r.stderr).not.toMatch(/WATCHDOG=1 for/);
      expect([...r.stderr.matchAll(/started .* as pid (\d+)/g)].map((m) => Number(m[1]))).toEqual([shell]);
      r.child.kill('SIGTERM');
      await r.ended('SIGTERM');
    },
  );

  it(
    'without --watchdog-sec the child gets no WATCHDOG_* at all: ' + "sockact's own from systemd never reach it",
    async () => {
      const { r } = await underSystemd([], [PYTHON, SD_WATCHDOG_TREE]);
      const { child, grandchild } = await answers(r);
      const none = { r: 0, usec: 0, env: { WATCHDOG_USEC: null, WATCHDOG_PID: null } };
      expect(child).toEqual({ pid: child.pid, ...none });
      expect(grandchild).toEqual({ pid: grandchild.pid, ...none });
      expect((await r.ended('the program exited')).code).toBe(0);
    },
  );
});

describe('supervisor end to end: as PID 1', () => {
  it("reaps orphans in its pid namespace and still reports its own child's exit status", async () => {
    try {
      execFileSync('unshare', ['-pf', '--mount-proc', 'true'], { stdio: 'ignore' });
    } catch {
      expect(process.getuid?.()).not.toBe(0); // only root can make a pid namespace here
      return;
    }
    // The program leaves an orphan (a double fork) that exits while sockact, now its reaper, runs.
    const program = ['sh', '-c', '(sleep 0.2 &); sleep 1.5; exit 7'];
    const r = run('unshare', ['-pf', '--mount-proc', process.execPath, SOCKACT, '-l', '127.0.0.1:0', '--', ...program]);
    defer(() => r.child.kill('SIGKILL'));
    await r.waitFor('stderr', /started .* as pid \d+/); // sockact is pid 1 inside
    await new Promise((res) => setTimeout(res, 800)); // the orphan has exited by now
    const unshare = r.child.pid!;
    const inner = childrenOf(unshare)[0]!.pid; // sockact, pid 1 in the namespace
    const zombies = childrenOf(inner).filter((c) => c.state === 'Z');
    expect(zombies).toEqual([]);
    expect((await r.exited).code).toBe(7);
  });
});

describe('supervisor end to end: nothing of a generation outlives it', () => {
  const REPORTER = join(ROOT, 'test/cli/fixtures/signal-reporter.py');

  it(
    'what a program leaves in its process group (a shell that neither ' +
      'execs nor traps) gets the stop signal, and sockact ends once it is gone',
    async () => {
      // sh dies of SIGTERM at once; the Python below it never hears it from sh. Before, it ran on,
      // orphaned, holding the socket; now its group gets SIGTERM once sh is gone.
      const r = sockact([
        '-l',
        '127.0.0.1:0',
        '--wrapper',
        '--',
        '/bin/sh',
        '-c',
        `"${PYTHON}" "${REPORTER}"; echo after`,
      ]);
      await r.waitFor('stdout', /ready\n/);
      const shell = Number((await r.waitFor('stderr', /started .* as pid (\d+)/))[1]);
      r.child.kill('SIGTERM');
      await r.ended('SIGTERM');
      expect(r.stdout).toBe('ready\ngot SIGTERM\n');
      expect(r.stderr).toContain(
        `pid ${shell} (generation 1) is gone, but what it started is still running: ` +
          `sending SIGTERM to its process group`,
      );
      expect(() => process.kill(-shell, 0)).toThrow(); // the group is empty
    },
  );

  it('a leftover that ignores the stop signal is killed after --stop-timeout', async () => {
    const program = `trap '' TERM; echo ready; exec sleep 60`;
    const r = sockact([
      '-l',
      '127.0.0.1:0',
      '--stop-timeout',
      '300ms',
      '--',
      '/bin/sh',
      '-c',
      `(${program}) & sleep 0.2; exit 0`,
    ]);
    await r.waitFor('stdout', /ready\n/);
    const shell = Number((await r.waitFor('stderr', /started .* as pid (\d+)/))[1]);
    expect((await r.ended('the shell exited')).code).toBe(0);
    expect(r.stderr).toContain(`process group ${shell} still running 300 ms after SIGTERM: sending SIGKILL`);
    expect(() => process.kill(-shell, 0)).toThrow();
  });
});

describe('supervisor end to end: steady state', () => {
  it('fds and children stay flat over 30 reloads', async () => {
    const name = `e2e-flat-${process.pid}`;
    const r = start(['-l', '127.0.0.1:0', '--name', name, '--', process.execPath, APP]);
    await r.waitFor('stderr', /ready, generation 1/);
    const pid = r.child.pid!;
    const before = fdCount(pid);
    for (let i = 0; i < 30; i++) r.child.kill('SIGHUP');
    // SIGHUPs coalesce; keep asking until generation 31 or more has been reached at least once more.
    expect((await control(['reload', '--name', name])).code).toBe(0);
    await new Promise((res) => setTimeout(res, 300)); // the last old generation finishes its drain
    expect(fdCount(pid)).toBe(before);
    const kids = childrenOf(pid);
    expect(kids).toHaveLength(1);
    expect(kids[0]!.state).not.toBe('Z');
  });
});
