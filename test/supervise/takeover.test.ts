// sockact --takeover end to end: real sockacts handing real listening sockets to each other over
// the control socket, real children, a real keep-alive load on loopback (bounded in count), a
// real notify receiver standing in for systemd. No timing is asserted: what was answered, by
// whom, on which socket (the kernel's inode), and what each process said and exited with.
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/cli/parse.js';
import { SockactError } from '../../src/protocol/errors.js';
import { httpGet } from '../_support/http.js';
import { loadDuring } from '../_support/http-load.js';
import {
  hostPort,
  listeningOn,
  perTest,
  PYTHON,
  ROOT,
  run,
  sockact,
  sockactOutcome,
  type Run,
} from '../_support/launcher.js';
import { credsMessages, NOTIFY_CREDS } from '../_support/notify.js';
import { waitUntil } from '../_support/wait.js';

const APP = join(ROOT, 'test/supervise/fixtures/app.mjs');
const { defer, dir } = perTest();

function start(args: string[], env: Record<string, string> = {}): Run {
  const r = sockact(args, { env: { ...process.env, ...env } });
  defer(() => r.child.kill('SIGKILL'));
  return r;
}

const control = sockactOutcome;

/** The socket inode behind fd `fd` of `pid` (readlink /proc/PID/fd/N -> socket:[INODE]). */
function socketAt(pid: number, fd: number): string {
  const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
  const m = /^socket:\[(\d+)\]$/.exec(target);
  if (!m) throw new Error(`fd ${fd} of pid ${pid} is ${target}, not a socket`);
  return m[1]!;
}

/** Every socket inode `pid` holds, whatever its fd numbers. */
function socketsOf(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Inodes of the TCP sockets listening on 127.0.0.1:`port` (/proc/net/tcp: state 0A is LISTEN). */
function listenersOn(port: number): string[] {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1] === local && f[3] === '0A')
    .map((f) => f[9]!);
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

function connects(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

describe('sockact --takeover: deploying a new sockact', () => {
  it(
    'N=1 -> --workers 2 -> N=1 under keep-alive load: ' +
      '0 failed requests, one listening socket (same inode) throughout',
    async () => {
      const ctl = join(dir(), 'ctl.sock');
      const a = start(['-l', '127.0.0.1:0', '--control', ctl, '--', process.execPath, APP]);
      const { port } = hostPort(await listeningOn(a));
      await a.waitFor('stderr', /ready, generation 1/);
      const [inode] = listenersOn(port);
      expect(listenersOn(port)).toEqual([inode]);
      const aChild = childrenOf(a.child.pid!);
      expect(aChild.map((p) => socketAt(p, 3))).toEqual([inode]);

      /** The sockact `r` and each of its children hold the one listening socket, the children at fd 3. */
      const holdsTheSocket = (r: Run, children: number) => {
        expect(listenersOn(port)).toEqual([inode]);
        expect(socketsOf(r.child.pid!)).toContain(inode);
        const kids = childrenOf(r.child.pid!);
        expect(kids).toHaveLength(children);
        for (const k of kids) expect(socketAt(k, 3)).toBe(inode);
        return kids;
      };

      let bKids: number[] = [];
      let cKids: number[] = [];
      const fresh = new Set<number>();
      let b: Run | undefined;
      let c: Run | undefined;
      const result = await loadDuring(port, 16, async () => {
        await new Promise((res) => setTimeout(res, 200)); // the load is running against generation A
        b = start([
          '-l',
          `127.0.0.1:${port}`,
          '--control',
          ctl,
          '--takeover',
          '--workers',
          '2',
          '--',
          process.execPath,
          APP,
        ]);
        await b.waitFor('stderr', /pid \d+ exited: takeover done in/);
        expect(await a.exited).toEqual({ code: 0, signal: null });
        bKids = holdsTheSocket(b, 2);
        // The load's keep-alive connections stay with the worker that accepted them: fresh ones
        // (each accepted by whichever worker wins) until both have answered, before the next takeover.
        await waitUntil(
          "both of the second sockact's workers answered",
          async () => {
            const { body } = await httpGet({ host: '127.0.0.1', port });
            fresh.add(Number(body.split(' ')[1]));
            return bKids.every((pid) => fresh.has(pid));
          },
          { every: 5, seen: () => [...fresh].join(', ') },
        );
        c = start(['-l', `127.0.0.1:${port}`, '--control', ctl, '--takeover', '--', process.execPath, APP]);
        await c.waitFor('stderr', /pid \d+ exited: takeover done in/);
        expect(await b.exited).toEqual({ code: 0, signal: null });
        cKids = holdsTheSocket(c, 1);
      });
      expect(result.failed).toEqual([]);
      expect(result.ok).toBeGreaterThan(200);
      // Every generation answered: the one of the old sockact, both workers of the second, the third.
      const answered = new Set([...result.bodies.keys()].map((body) => Number(body.split(' ')[1])));
      for (const pid of fresh) answered.add(pid);
      for (const pid of [...aChild, ...bKids, ...cKids]) expect(answered).toContain(pid);

      expect(a.stderr).toMatch(new RegExp(`pid ${b!.child.pid} took over 1 of 1 socket and serves: retiring`));
      expect(b!.stderr).toMatch(
        new RegExp(`listening on 127\\.0\\.0\\.1:${port} as fd 3 taken over from pid ${a.child.pid}\\n`),
      );
      expect(b!.stderr).toMatch(
        new RegExp(`children ready .* after the takeover began: telling pid ${a.child.pid} to retire`),
      );
      // The next deploy is the same command: the control socket at ctl is the newest sockact's.
      const status = await control(['status', '--control', ctl]);
      expect(status.stdout).toMatch(new RegExp(`^sockact pid ${c!.child.pid}, running`));
      expect(readdirSync(join(ctl, '..'))).toEqual(['ctl.sock']);
      c!.child.kill('SIGTERM');
      expect(await c!.exited).toEqual({ code: 0, signal: null });
      expect(existsSync(ctl)).toBe(false);
    },
  );

  it.each([
    ['exits 1 at start', ['--'], { FAIL_IF: 'broken' }, /exited with code 1 before it was ready/],
    [
      'is never ready (--ready-timeout)',
      ['--ready', 'notify', '--ready-timeout', '1s', '--'],
      { SLOW_IF: 'broken' },
      /(exited with code 0|killed by SIGTERM) before it was ready: it was not ready within 1\.0 s/,
    ],
  ])(
    'a new program that %s: the takeover fails with the reason in one line, the old sockact keeps serving',
    async (_, opts, env, reason) => {
      const d = dir();
      const ctl = join(d, 'ctl.sock');
      const marker = join(d, 'broken');
      const a = start(['-l', '127.0.0.1:0', '--control', ctl, '--', process.execPath, APP]);
      const { port } = hostPort(await listeningOn(a));
      const first = Number((await a.waitFor('stderr', /started \S+ \S+ as pid (\d+)/))[1]);
      await a.waitFor('stderr', /ready, generation 1/);
      writeFileSync(marker, '');
      const envFor = Object.fromEntries(Object.entries(env).map(([k]) => [k, marker]));
      // A second -l that the old sockact has not: bound, then closed again.
      const b = start(
        [
          '-l',
          `127.0.0.1:${port}`,
          '-l',
          '127.0.0.1:0',
          '--control',
          ctl,
          '--takeover',
          ...opts,
          process.execPath,
          APP,
        ],
        envFor,
      );
      const fresh = hostPort(await listeningOn(b, 4));
      expect((await b.exited).code).toBe(1);
      const last = b.stderr.trim().split('\n').at(-1)!;
      expect(last).toMatch(
        new RegExp(`^sockact: takeover failed: pid \\d+ ${reason.source}; pid ${a.child.pid} keeps serving$`),
      );
      await a.waitFor('stderr', new RegExp(`pid ${b.child.pid} gave up taking over: serving on`));
      // Nothing else changed: the old one serves on its socket and owns the control socket; the fresh socket is gone.
      const during = await loadDuring(port, 2, async () => {}, { after: 20 });
      expect(during.failed).toEqual([]);
      expect([...during.bodies.keys()]).toEqual([`pid ${first} worker 0`]);
      expect((await control(['status', '--control', ctl])).stdout).toMatch(
        new RegExp(`^sockact pid ${a.child.pid}, running`),
      );
      expect(listenersOn(fresh.port)).toEqual([]);
      expect(readdirSync(d).sort()).toEqual(['broken', 'ctl.sock']);
      expect(a.child.exitCode).toBe(null);
    },
  );

  it(
    'takes only the sockets its -l name, binds the ones the old sockact has not; ' +
      'handed-over socket files outlive the old one, the others are removed',
    async () => {
      const d = dir();
      const ctl = join(d, 'ctl.sock');
      const [kept, dropped] = [join(d, 'kept.sock'), join(d, 'dropped.sock')];
      const sleeper = ['--ready', '300ms', '--', 'sleep', '60'];
      const a = start([
        '-l',
        '127.0.0.1:0',
        '-l',
        `${kept},remove-on-exit`,
        '-l',
        `${dropped},remove-on-exit`,
        '--control',
        ctl,
        ...sleeper,
      ]);
      const { port } = hostPort(await listeningOn(a));
      await a.waitFor('stderr', /ready, generation 1/);
      const aChild = childrenOf(a.child.pid!)[0]!;
      const [tcp, keptInode, droppedInode] = [3, 4, 5].map((fd) => socketAt(aChild, fd));

      // Port 0 asks for a new port: it takes nothing over, even with a TCP socket on offer.
      const b = start([
        '-l',
        `${kept},remove-on-exit`,
        '-l',
        '127.0.0.1:0',
        '-l',
        `127.0.0.1:${port}`,
        '--control',
        ctl,
        '--takeover',
        ...sleeper,
      ]);
      await b.waitFor('stderr', /takeover done/);
      expect(await a.exited).toEqual({ code: 0, signal: null });
      expect(b.stderr).toMatch(new RegExp(`listening on ${kept} as fd 3 taken over from pid ${a.child.pid}\\n`));
      expect(b.stderr).toMatch(/listening on 127\.0\.0\.1:\d+ as fd 4\n/);
      expect(b.stderr).toMatch(
        new RegExp(`listening on 127\\.0\\.0\\.1:${port} as fd 5 taken over from pid ${a.child.pid}\\n`),
      );
      const bChild = childrenOf(b.child.pid!)[0]!;
      expect(socketAt(bChild, 3)).toBe(keptInode);
      expect(socketAt(bChild, 5)).toBe(tcp);
      const freshInode = socketAt(bChild, 4);
      expect([tcp, keptInode, droppedInode]).not.toContain(freshInode);
      expect(existsSync(`/proc/${bChild}/fd/6`)).toBe(false);
      // The socket no -l named was not taken: nobody new holds it, and it went with the old sockact.
      expect(socketsOf(b.child.pid!)).not.toContain(droppedInode);
      expect(socketsOf(b.child.pid!)).toContain(keptInode);
      expect(existsSync(dropped)).toBe(false);
      // remove-on-exit did not remove the file of the socket handed over: it is the new sockact's now.
      expect(existsSync(kept)).toBe(true);
      expect(await connects(kept)).toBe(true);
      b.child.kill('SIGTERM');
      // A plain launch ends as its program did (sleep, killed by SIGTERM); remove-on-exit holds.
      expect(await b.exited).toEqual({ code: null, signal: 'SIGTERM' });
      expect(existsSync(kept)).toBe(false);
    },
  );

  it(
    'one takeover at a time: a second new sockact is refused while the first one starts; ' +
      'with nobody at PATH, --takeover starts as usual',
    async () => {
      const d = dir();
      const ctl = join(d, 'ctl.sock');
      const slow = join(d, 'slow');
      const a = start(['-l', '127.0.0.1:0', '--control', ctl, '--', process.execPath, APP]);
      const { port } = hostPort(await listeningOn(a));
      await a.waitFor('stderr', /ready, generation 1/);
      writeFileSync(slow, '');
      const b = start(
        ['-l', `127.0.0.1:${port}`, '--control', ctl, '--takeover', '--ready', 'notify', '--', process.execPath, APP],
        { SLOW_IF: slow },
      );
      await a.waitFor('stderr', new RegExp(`pid ${b.child.pid} is taking over`));
      const c = start(['-l', `127.0.0.1:${port}`, '--control', ctl, '--takeover', '--', process.execPath, APP]);
      expect((await c.exited).code).toBe(1);
      expect(c.stderr).toBe(
        `sockact: can't take over from the sockact at ${ctl}: it refused: pid ${b.child.pid} is taking over already\n`,
      );
      b.child.kill('SIGTERM');
      expect((await b.exited).code).toBe(1);
      expect(b.stderr).toMatch(
        /takeover failed: sockact was stopped before its children were ready; pid \d+ keeps serving\n$/,
      );

      const fresh = start([
        '-l',
        '127.0.0.1:0',
        '--control',
        join(d, 'nobody.sock'),
        '--takeover',
        '--',
        process.execPath,
        APP,
      ]);
      await fresh.waitFor('stderr', /ready, generation 1/);
      expect(fresh.stderr).toMatch(/^sockact: no sockact is serving at \S+nobody\.sock: starting without a takeover\n/);
    },
  );
});

describe('sockact --takeover under systemd (a real notify receiver stands in)', () => {
  it(
    'the new sockact, started without NOTIFY_SOCKET, sends MAINPID=<its pid> ' +
      'with READY=1 where the old one notified; the old one never sends STOPPING=1',
    async () => {
      const d = dir();
      const sock = join(d, 'notify');
      const ctl = join(d, 'ctl.sock');
      const recv = run(PYTHON, [NOTIFY_CREDS, sock]);
      defer(() => recv.child.kill('SIGKILL'));
      await recv.waitFor('stdout', /"ready": true/);
      const a = start(['-l', '127.0.0.1:0', '--control', ctl, '--', process.execPath, APP], { NOTIFY_SOCKET: sock });
      const { port } = hostPort(await listeningOn(a));
      await recv.waitFor('stdout', /READY=1/);
      const env = { ...process.env };
      delete env.NOTIFY_SOCKET; // as from a deploy tool's shell
      const b = sockact(['-l', `127.0.0.1:${port}`, '--control', ctl, '--takeover', '--', process.execPath, APP], {
        env,
      });
      defer(() => b.child.kill('SIGKILL'));
      await b.waitFor('stderr', /takeover done/);
      expect(await a.exited).toEqual({ code: 0, signal: null });
      b.child.kill('SIGTERM');
      await b.exited;
      await recv.waitFor('stdout', /STOPPING=1/);
      const msgs = credsMessages(recv.stdout);
      const from = (pid: number) =>
        msgs
          .filter((m) => m.pid === pid)
          .map((m) =>
            m.text
              .split('\n')
              .filter((l) => /^(READY|STOPPING|MAINPID)=/.test(l))
              .join('+'),
          );
      expect(new Set(msgs.map((m) => m.pid))).toEqual(new Set([a.child.pid, b.child.pid]));
      expect(from(a.child.pid!)).toEqual(['READY=1']);
      expect(from(b.child.pid!).filter(Boolean)).toEqual([`MAINPID=${b.child.pid}+READY=1`, 'STOPPING=1']);
    },
  );
});

describe('--takeover on the command line', () => {
  const usage = (argv: string[]) => {
    try {
      parseCommandLine(argv);
    } catch (err) {
      expect(err).toBeInstanceOf(SockactError);
      expect((err as SockactError).code).toBe('ERR_USAGE');
      return (err as Error).message;
    }
    throw new Error('no usage error');
  };

  it('needs the sockact to take over, and a supervised launch', () => {
    expect(usage(['--takeover', '-l', '8080', 'x'])).toBe(
      '--takeover needs --control PATH or --name NAME: the sockact to take over',
    );
    expect(usage(['--takeover', '--name', 'web', '--on-demand', '-l', '8080', 'x'])).toBe(
      '--takeover may not be combined with --on-demand (the old sockact serves until the new program is ready)',
    );
    expect(usage(['--takeover', '--name', 'web', '-a', '-l', '8080', 'x'])).toMatch(
      /^--accept may not be combined with --takeover/,
    );
    const cmd = parseCommandLine(['--takeover', '--name', 'web', '-l', '8080', 'x']);
    expect(cmd.kind === 'run' && cmd.config.supervise.takeover).toBe(true);
  });
});
