// A peer nobody here wrote: Go programs built against Debian's go-systemd
// (golang-github-coreos-go-systemd-dev) take what sockact passes. The launcher's sockets through
// activation.Files / ListenersWithNames / PacketConns, each served with real traffic on loopback;
// readiness through daemon.SdNotify under the supervisor, a reload included, and a Go program that
// never notifies rolled back; the watchdog through daemon.SdWatchdogEnabled and WATCHDOG=1 pings.
// The program is test/launch/fixtures/go/peer/main.go, built once for this file.
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { goBuild } from '../_support/go.js';
import { httpGet } from '../_support/http.js';
import {
  exchange,
  hostPort,
  listeningOn,
  perTest,
  ROOT,
  run,
  type Run,
  SOCKACT,
  sockact,
  sockactOutcome,
} from '../_support/launcher.js';
import { fileTempDir } from '../_support/tmp.js';
import { WAIT_TIMEOUT } from '../_support/wait.js';

const PEER_SRC = join(ROOT, 'test/launch/fixtures/go/peer');
const buildDir = fileTempDir();
const { defer, dir } = perTest();
let peer = '';

beforeAll(() => {
  peer = goBuild(PEER_SRC, join(buildDir, 'go-peer'), buildDir);
}, 120_000); // ~1-2 s with Go's build cache; a cold cache on a newer Go rebuilds the standard library

/** sockact's environment without what an outer systemd (or launcher) may have left in ours. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(LISTEN_|WATCHDOG_|NOTIFY_SOCKET$)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function start(args: string[], env: Record<string, string> = {}): Run {
  const r = sockact(args, { env: cleanEnv(env) });
  defer(() => r.child.kill('SIGKILL'));
  return r;
}

/** Every pid sockact started so far, in order ("started ... as pid N"). */
function startedPids(r: Run): number[] {
  return [...r.stderr.matchAll(/started .* as pid (\d+)/g)].map((m) => Number(m[1]));
}

/** The pid of the `n`th program sockact started (1 = the first), once it has. */
async function started(r: Run, n = 1): Promise<number> {
  await r.waitFor('stderr', new RegExp(`(?:started .* as pid \\d+[^]*){${n}}`));
  return startedPids(r)[n - 1]!;
}

/** The Go program's JSON report for `what` (one line on stdout). */
// biome-ignore lint/suspicious/noExplicitAny: the Go program's report; each test asserts the shape it expects.
async function report(r: Run, what: string): Promise<any> {
  const m = await r.waitFor('stdout', new RegExp(`^\\{.*"what":"${what}".*\\}$`, 'm'));
  return JSON.parse(m[0]);
}

/** One datagram to 127.0.0.1:`port` and the first answer; none within WAIT_TIMEOUT is an error. */
async function udpExchange(port: number, text: string): Promise<string> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer from udp 127.0.0.1:${port} within ${WAIT_TIMEOUT} ms`)),
        WAIT_TIMEOUT,
      );
      s.on('error', reject);
      s.once('message', (m) => {
        clearTimeout(timer);
        resolve(m.toString());
      });
      s.send(text, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

/** The sockets of the launcher tests, in the order asked: a -l each, fd 3, 4, 5. */
const NAMES = ['web', 'ctl', 'dns'];

/**
 * sockact -l 127.0.0.1:0,name=web -l DIR/u.sock,name=ctl -l 127.0.0.1:0,dgram,name=dns -- go-peer MODE:
 * what sockact says it bound (by name), the Go program's pid and its report.
 */
async function launchThree(mode: string) {
  const sock = join(dir(), 'u.sock');
  const r = start([
    '-l',
    `127.0.0.1:0,name=${NAMES[0]}`,
    '-l',
    `${sock},name=${NAMES[1]}`,
    '-l',
    `127.0.0.1:0,dgram,name=${NAMES[2]}`,
    '--',
    peer,
    mode,
  ]);
  const bound: Record<string, string> = {};
  for (const [i, name] of NAMES.entries())
    bound[name] = (await r.waitFor('stderr', new RegExp(`listening on (\\S+) as fd ${3 + i} \\((\\w+)\\)`)))[1]!;
  expect(bound.ctl).toBe(sock);
  expect(bound.web).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(bound.dns).toMatch(/^127\.0\.0\.1:\d+$/);
  const pid = await started(r);
  const got = await report(r, mode);
  expect(got.pid).toBe(pid); // LISTEN_PID named this very process, or go-systemd would have returned nothing
  return { r, sock, bound, pid, got };
}

/** SIGTERM to sockact: the Go program exits 0 on it, and a plain launch ends as its program did. */
async function stop(r: Run, pid: number): Promise<void> {
  r.child.kill('SIGTERM');
  expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
  expect(r.stderr).toContain(`go: pid ${pid}: SIGTERM: exiting`);
}

describe('the launcher: what go-systemd makes of the sockets sockact passes', () => {
  it(
    'activation.Files(true): fds 3, 4, 5 in the order asked with their names, ' +
      'nothing else open, LISTEN_* unset after; each socket serves a request',
    async () => {
      const { r, sock, bound, pid, got } = await launchThree('files');
      expect(got.fdsAtStart).toEqual([0, 1, 2, 3, 4, 5]);
      expect(got.envBefore).toEqual({ LISTEN_PID: String(pid), LISTEN_FDS: '3', LISTEN_FDNAMES: NAMES.join(':') });
      expect(got.envAfter).toEqual({});
      expect(got.sockets).toEqual([
        { fd: 3, name: NAMES[0], network: 'tcp', addr: bound.web },
        { fd: 4, name: NAMES[1], network: 'unix', addr: sock },
        { fd: 5, name: NAMES[2], network: 'udp', addr: bound.dns },
      ]);
      // The sockets it adopted are the ones sockact bound: traffic to each reaches this Go process.
      expect(await exchange(hostPort(bound.web!), 'over tcp')).toBe(`web tcp pid ${pid}: over tcp`);
      expect(await exchange({ path: sock }, 'over unix')).toBe(`ctl unix pid ${pid}: over unix`);
      expect(await udpExchange(hostPort(bound.dns!).port, 'over udp')).toBe(`dns udp pid ${pid}: over udp`);
      await stop(r, pid);
    },
  );

  it(
    'activation.ListenersWithNames(): ' +
      'each stream socket under the name asked (the UDP one is no listener), and both serve',
    async () => {
      const { r, sock, bound, pid, got } = await launchThree('listeners');
      expect(got.names).toEqual({ web: [bound.web], ctl: [sock] });
      expect(got.envAfter).toEqual({});
      expect(await exchange(hostPort(bound.web!), 'named tcp')).toBe(`web tcp pid ${pid}: named tcp`);
      expect(await exchange({ path: sock }, 'named unix')).toBe(`ctl unix pid ${pid}: named unix`);
      await stop(r, pid);
    },
  );

  it('activation.PacketConns(): the UDP socket at its place (fd 5, third), and it answers a datagram', async () => {
    const { r, sock, bound, pid, got } = await launchThree('packets');
    // go-systemd's own reading: net.FilePacketConn refuses the TCP listener (null) but wraps any
    // AF_UNIX socket, the listening stream one included; it still names the path sockact bound.
    expect(got.conns).toEqual([null, { network: 'unix', addr: sock }, { network: 'udp', addr: bound.dns }]);
    expect(got.envAfter).toEqual({});
    expect(await udpExchange(hostPort(bound.dns!).port, 'packet')).toBe(`conn2 udp pid ${pid}: packet`);
    await stop(r, pid);
  });
});

describe("the supervisor: readiness through go-systemd's daemon.SdNotify", () => {
  it(
    '--ready notify: ready on READY=1 only; a reload serves a new Go generation; ' +
      'one that never notifies is stopped after --ready-timeout and the old one keeps serving',
    async () => {
      const d = dir();
      const control = join(d, 'control.sock');
      const never = join(d, 'never-ready');
      const r = start(
        ['-l', '127.0.0.1:0', '--ready', 'notify', '--ready-timeout', '2s', '--control', control, '--', peer, 'ready'],
        {
          READY_DELAY_MS: '300',
          NEVER_READY_IF: never,
        },
      );
      const target = hostPort(await listeningOn(r));
      const answer = async () => (await httpGet(target)).body;

      // Generation 1 is ready when its SdNotify arrives: after its 300 ms, after it said it sends.
      const first = await started(r);
      const ready1 = await r.waitFor(
        'stderr',
        new RegExp(`pid ${first} ready in (\\d+) ms \\(READY=1\\)|pid ${first} ready in ([\\d.]+) s \\(READY=1\\)`),
      );
      const readyMs = ready1[1] !== undefined ? Number(ready1[1]) : Number(ready1[2]) * 1000;
      expect(readyMs).toBeGreaterThanOrEqual(300);
      await r.waitFor('stderr', new RegExp(`ready, generation 1 \\(pid ${first}\\)`));
      expect(r.stderr.indexOf(`go: pid ${first}: sending READY=1 after 300 ms`)).toBeGreaterThan(-1);
      expect(r.stderr.indexOf(`go: pid ${first}: sending READY=1`)).toBeLessThan(
        r.stderr.indexOf(`pid ${first} ready in`),
      );
      expect(await answer()).toBe(`go pid ${first} generation 1\n`);

      // A reload: generation 2 (Go again) says READY=1, then generation 1 gets SIGTERM and exits 0.
      const reload = await sockactOutcome(['reload', '--control', control]);
      expect(reload.code, reload.stderr).toBe(0);
      const second = await started(r, 2);
      expect(r.stderr).toMatch(new RegExp(`pid ${second} \\(generation 2\\) ready in [\\d.]+ m?s \\(READY=1\\)`));
      expect(r.stderr).toMatch(/reloaded: generation 2 ready/);
      // Generation 1 may accept until its SIGTERM lands: ask once it is gone.
      await r.waitFor('stderr', new RegExp(`pid ${first} exited with code 0`));
      expect(await answer()).toBe(`go pid ${second} generation 2\n`);

      // The bug: generation 3 serves but never calls SdNotify. The reload fails after --ready-timeout.
      writeFileSync(never, '');
      const failed = await sockactOutcome(['reload', '--control', control]);
      const third = startedPids(r)[2];
      expect(failed.code).toBe(1);
      expect(failed.stderr).toBe(
        `sockact: reload failed: pid ${third} (generation 3) was not ready within 2.0 s; generation 2 keeps serving\n`,
      );
      expect(r.stderr).toContain(`go: pid ${third}: serving, never sending READY=1`);
      for (let i = 0; i < 5; i++) expect(await answer()).toBe(`go pid ${second} generation 2\n`);

      await stop(r, second);
    },
  );
});

describe("the watchdog: go-systemd's daemon.SdWatchdogEnabled", () => {
  it(
    '--watchdog-sec 1s: SdWatchdogEnabled(false) sees 1 s and its own pid in WATCHDOG_PID, ' +
      'not the WATCHDOG_* sockact got from above; its WATCHDOG=1 pings keep it alive past twice that',
    async () => {
      // sockact with the WATCHDOG_* a unit's WatchdogSec= gives it (WATCHDOG_PID is sockact's own pid:
      // sh execs it): they are sockact's, and must not reach the program in place of its own.
      const sh = 'WATCHDOG_USEC=5000000 WATCHDOG_PID=$$ exec "$0" "$@"';
      const r = run(
        '/bin/sh',
        ['-c', sh, process.execPath, SOCKACT, '-l', '127.0.0.1:0', '--watchdog-sec', '1s', '--', peer, 'watchdog'],
        { env: cleanEnv() },
      );
      defer(() => r.child.kill('SIGKILL'));
      const pid = await started(r);
      const got = await report(r, 'watchdog');
      expect(got.pid).toBe(pid);
      expect(got.intervalUsec).toBe(1_000_000);
      expect(got.env.WATCHDOG_USEC).toBe('1000000');
      // As systemd's WatchdogSec=: WATCHDOG_PID is the program's own pid (docs/protocol.md 25), so
      // SdWatchdogEnabled says 0 in whatever it starts. Never sockact's own, never unset.
      expect(got.env.WATCHDOG_PID).toBe(String(pid));
      await r.waitFor('stderr', new RegExp(`pid ${pid} ready in .* \\(READY=1\\)`));
      // Ping 9 at 2.25 s (one every 250 ms): past twice the interval, so go-systemd's datagrams re-armed
      // sockact's timer.
      await r.waitFor('stderr', new RegExp(`go: pid ${pid}: sent WATCHDOG=1 #9\\n`));
      expect(r.stderr).not.toMatch(/WATCHDOG=1 for/);
      expect(startedPids(r)).toEqual([pid]);
      await stop(r, pid);
    },
  );

  it(
    'a Go program that never sends WATCHDOG=1 gets SIGABRT ' +
      'once the interval has passed (the Go runtime then exits 2)',
    async () => {
      const r = start(['-l', '127.0.0.1:0', '--watchdog-sec', '1s', '--', peer, 'watchdog'], { NO_PING: '1' });
      const pid = await started(r);
      expect((await report(r, 'watchdog')).intervalUsec).toBe(1_000_000);
      await r.waitFor('stderr', new RegExp(`pid ${pid} sent no WATCHDOG=1 for 1\\.0 s: stopping it with SIGABRT`));
      expect(await r.ended('SIGABRT')).toEqual({ code: 2, signal: null });
      expect(r.stderr).toMatch(/^SIGABRT: abort$/m);
      expect(r.stderr).toContain(`pid ${pid} exited with code 2`);
    },
  );
});
