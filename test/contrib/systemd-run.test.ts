// contrib/systemd, run: each service's real ExecStart (localized to this checkout) is started
// the way its unit says, with systemd-socket-activate standing in for systemd's socket units
// (same fds at 3.., LISTEN_FDNAMES from FileDescriptorName=, Accept=yes as -a), and a real
// AF_UNIX datagram socket with SO_PASSCRED standing in for systemd's notify socket (it sees which
// pid sent what, as NotifyAccess=main does). ExecReload= is run as written, with $MAINPID.
// A running systemd cannot be had here; this shows what each unit's program does with what
// systemd passes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, PYTHON, run, tempDir, type Run } from '../_support/launcher.js';
import { localize, unitsDir, unitValues } from '../_support/units.js';
import { credsMessages, NOTIFY_CREDS } from '../_support/notify.js';

/** User=nobody's uid (--user nobody in ExecStart). */
const NOBODY = Number(/^nobody:[^:]*:(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))?.[1]);

function unit(name: string): Map<string, string> {
  return unitValues(localize(readFileSync(join(unitsDir, name), 'utf8')));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const running: Run[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  // SIGTERM, not SIGKILL: a launcher passes it on, so its program exits too and the pipes close.
  for (const r of running.splice(0)) {
    r.child.kill('SIGTERM');
    await r.exited;
  }
  for (const c of cleanups.splice(0)) c();
});

function scratch(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return dir;
}

/** systemd's notify socket, stood in for: every datagram with the pid that sent it. */
async function notifyReceiver(dir: string) {
  const path = join(dir, 'notify');
  const r = run(PYTHON, [NOTIFY_CREDS, path]);
  running.push(r);
  await r.waitFor('stdout', /"ready": true/);
  const messages = () => credsMessages(r.stdout);
  return {
    path,
    messages,
    /** The READY/RELOADING/STOPPING states in the order they came ("READY=1", "RELOADING=1", ...). */
    states: () => messages().flatMap((m) => m.text.split('\n').filter((l) => /^(READY|RELOADING|STOPPING)=1$/.test(l))),
    async waitFor(re: RegExp, count = 1) {
      const all = new RegExp(re.source, 'g');
      while ((r.stdout.match(all) ?? []).length < count)
        await r.waitFor('stdout', new RegExp(`(${re.source}[\\s\\S]*){${count}}`));
    },
  };
}

function get(target: { host: string; port: number } | { path: string }): Promise<string> {
  return exchange(target, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
}

const servedBy = (answer: string) => Number(/hello from pid (\d+)/.exec(answer)?.[1]);

/** The session id of a process (field 6 of /proc/PID/stat). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

/** The real uid of a process. */
function uidOf(pid: number): number {
  return Number(/^Uid:\t(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** Run the unit's ExecReload= as systemd would: $MAINPID is the main process's pid. */
function execReload(line: string, mainPid: number): void {
  const [cmd, ...args] = line.replaceAll('$MAINPID', String(mainPid)).split(' ');
  const r = spawnSync(cmd!, args, { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

/**
 * A reload of a sockact service (b, c), then a stop, the way systemd does them: `reload` is what
 * the unit's type does on `systemctl reload`. The notify socket sees READY=1, RELOADING=1 with
 * MONOTONIC_USEC, READY=1, STOPPING=1, all from sockact's pid (MAINPID never changes, so
 * NotifyAccess=main accepts them); a new app answers after the reload; SIGTERM to the main pid
 * alone (KillMode=mixed) stops the app exactly once, and sockact ends 0.
 */
async function reloadAndStop(
  r: Run,
  notify: Awaited<ReturnType<typeof notifyReceiver>>,
  targets: ({ host: string; port: number } | { path: string })[],
  reload: () => void,
  uid = 0,
) {
  await notify.waitFor(/READY=1/);
  const before = servedBy(await get(targets[0]!));
  expect(before).toBeGreaterThan(0);
  expect(uidOf(before)).toBe(uid);
  // The app runs in a session of its own: a signal to sockact's group reaches sockact alone.
  expect(sessionOf(before)).not.toBe(sessionOf(r.child.pid!));
  reload();
  await r.waitFor('stderr', /reloaded: generation 2 ready/);
  await notify.waitFor(/READY=1/, 2);
  // The old app stops accepting once the new one is ready, drains and exits; from then on only the new one answers.
  await r.waitFor('stderr', new RegExp(`pid ${before} .*exited with code 0`));
  for (const t of targets) {
    const after = servedBy(await get(t));
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
  }
  const reloading = notify.messages().find((m) => m.text.includes('RELOADING=1'))!;
  expect(reloading.text).toMatch(/^MONOTONIC_USEC=\d+$/m);
  r.child.kill('SIGTERM');
  expect((await r.exited).code).toBe(0);
  await notify.waitFor(/STOPPING=1/);
  expect(notify.states()).toEqual(['READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
  expect(new Set(notify.messages().map((m) => m.pid))).toEqual(new Set([r.child.pid]));
  expect(notify.messages().some((m) => /^MAINPID=/m.test(m.text))).toBe(false);
  // Each app was stopped once and drained: exit code 0, one line each.
  const newest = Number(/pid (\d+) \(generation 2\) ready/.exec(r.stderr)?.[1]);
  for (const pid of [before, newest])
    expect(r.stderr.match(new RegExp(`pid ${pid} .*exited with code 0`, 'g'))).toHaveLength(1);
}

describe('contrib/systemd units, run as their unit says', () => {
  it(
    '(a) hello.socket + hello.service: serves the named socket, ' +
      'sends READY=1, pings the watchdog, drains on SIGTERM with STOPPING=1',
    async () => {
      const sock = unit('hello.socket');
      const svc = unit('hello.service');
      expect(svc.get('Service.Type')).toBe('notify');
      expect(svc.get('Service.WatchdogSec')).toBe('10s');
      const notify = await notifyReceiver(scratch());
      const port = await freePort();
      const argv = svc.get('Service.ExecStart')!.split(' ');
      const r = run('systemd-socket-activate', [
        '-l',
        `127.0.0.1:${port}`,
        `--fdname=${sock.get('Socket.FileDescriptorName')}`,
        '-E',
        `NOTIFY_SOCKET=${notify.path}`,
        // WatchdogSec=10s would mean a ping within 5 s; 1 s keeps the test short and means the same.
        '-E',
        'WATCHDOG_USEC=1000000',
        ...argv,
      ]);
      running.push(r);
      await r.waitFor('stderr', /Listening on/);
      // systemd-socket-activate execs the service on the first connection, which then waits in the backlog.
      expect(await get({ host: '127.0.0.1', port })).toMatch(/^HTTP\/1\.1 200[\s\S]*hello from pid \d+/);
      await notify.waitFor(/READY=1/);
      await notify.waitFor(/WATCHDOG=1/);
      r.child.kill('SIGTERM');
      await notify.waitFor(/STOPPING=1/);
      expect((await r.exited).code).toBe(0);
      expect(new Set(notify.messages().map((m) => m.pid))).toEqual(new Set([r.child.pid]));
    },
  );

  for (const [file, version] of [
    ['sockact-hello.service', 252],
    ['253/sockact-hello.service', 253],
  ] as const) {
    it(
      `(b) ${file} (systemd ${version}${version === 253 ? '+' : ''}): sockact binds TCP and a UNIX socket, ` +
        `drops to nobody, reloads on SIGHUP with RELOADING=1 then READY=1 from an unchanged main pid, stops once`,
      async () => {
        const svc = unit(file);
        expect(svc.get('Service.NotifyAccess')).toBe('main');
        expect(svc.get('Service.KillMode')).toBe('mixed');
        const dir = scratch();
        const notify = await notifyReceiver(dir);
        // RuntimeDirectory-like /run/hello -> a private temp dir; port 8080 -> a free loopback port;
        // a name of its own, so that runs in parallel do not share a control socket.
        const line = svc
          .get('Service.ExecStart')!
          .replace('-l 8080,', '-l 127.0.0.1:0,')
          .replaceAll('/run/hello', dir)
          .replace('--name sockact-hello ', `--name sockact-hello-${process.pid}-${version} `);
        const [bin, ...args] = line.split(' ');
        expect(bin).toMatch(/sockact\.js$/);
        expect(args).toContain('--user');
        const r = run(bin!, args, { env: { ...process.env, NOTIFY_SOCKET: notify.path } });
        running.push(r);
        const m = await r.waitFor('stderr', /listening on 127\.0\.0\.1:(\d+) as fd 3 \(web\)/);
        await r.waitFor('stderr', /listening on \S+admin\.sock as fd 4 \(admin\)/);
        const reload =
          version === 252
            ? () => execReload(svc.get('Service.ExecReload')!, r.child.pid!)
            : // Type=notify-reload: systemd sends ReloadSignal= (SIGHUP by default) itself.
              () => {
                expect(svc.get('Service.Type')).toBe('notify-reload');
                expect(svc.has('Service.ExecReload')).toBe(false);
                r.child.kill('SIGHUP');
              };
        await reloadAndStop(
          r,
          notify,
          [{ host: '127.0.0.1', port: Number(m[1]) }, { path: join(dir, 'admin.sock') }],
          reload,
          NOBODY,
        );
      },
    );
  }

  it(
    '(c) sockact-inherit-{web,admin}.socket + sockact-inherit.service: ' +
      'sockact passes the sockets systemd holds through, by name, and reloads on them',
    async () => {
      const svc = unit('sockact-inherit.service');
      const sockets = svc
        .get('Service.Sockets')!
        .split(' ')
        .map((s) => unit(s));
      expect(sockets.map((s) => s.get('Socket.FileDescriptorName'))).toEqual(['web', 'admin']);
      expect(svc.get('Service.ExecStart')).not.toMatch(/ -l /);
      const dir = scratch();
      const notify = await notifyReceiver(dir);
      const port = await freePort();
      const admin = sockets[1]!.get('Socket.ListenStream')!.replace('/run/sockact-inherit', dir);
      const argv = svc
        .get('Service.ExecStart')!
        .replace('--name sockact-inherit ', `--name sockact-inherit-${process.pid} `)
        .split(' ');
      const r = run('systemd-socket-activate', [
        '-l',
        `127.0.0.1:${port}`,
        '-l',
        admin,
        '--fdname=web:admin',
        '-E',
        `NOTIFY_SOCKET=${notify.path}`,
        ...argv,
      ]);
      running.push(r);
      await r.waitFor('stderr', /Listening on/);
      // The first connection makes systemd-socket-activate exec sockact (same pid), which passes both on.
      expect(servedBy(await get({ host: '127.0.0.1', port }))).toBeGreaterThan(0);
      await r.waitFor('stderr', /passing on inherited \S+ as fd 3 \(web\)/);
      await r.waitFor('stderr', /passing on inherited \S+ as fd 4 \(admin\)/);
      await reloadAndStop(r, notify, [{ host: '127.0.0.1', port }, { path: admin }], () =>
        execReload(svc.get('Service.ExecReload')!, r.child.pid!),
      );
    },
  );

  it(
    "(e) sockact-fdstore.service: stores the socket it binds in systemd's " +
      'fd store (FDSTORE=1, FDNAME=sockact/web), reloads on SIGHUP, stops once',
    async () => {
      const svc = unit('sockact-fdstore.service');
      expect(Number(svc.get('Service.FileDescriptorStoreMax'))).toBeGreaterThan(0);
      const dir = scratch();
      const notify = await notifyReceiver(dir);
      const [bin, ...args] = svc.get('Service.ExecStart')!.replace('-l 8080,', '-l 127.0.0.1:0,').split(' ');
      expect(args).toContain('--fd-store');
      const r = run(bin!, args, { env: { ...process.env, NOTIFY_SOCKET: notify.path } });
      running.push(r);
      const m = await r.waitFor('stderr', /listening on 127\.0\.0\.1:(\d+) as fd 3 \(web\)/);
      await notify.waitFor(/FDSTORE=1/);
      expect(notify.messages().find((x) => x.text.includes('FDSTORE=1'))!.text).toMatch(/^FDNAME=sockact\/web$/m);
      await reloadAndStop(r, notify, [{ host: '127.0.0.1', port: Number(m[1]) }], () =>
        execReload(svc.get('Service.ExecReload')!, r.child.pid!),
      );
    },
  );

  it(
    '(f) sockact-takeover.service: ExecStart starts fresh, ExecReload ' +
      '(a new sockact) takes the sockets over and sends MAINPID= from the new pid',
    async () => {
      const svc = unit('sockact-takeover.service');
      expect(svc.get('Service.NotifyAccess')).toBe('all');
      const dir = scratch();
      const notify = await notifyReceiver(dir);
      const argsOf = (line: string) =>
        line
          .replace(
            '$SOCKACT_ARGS',
            svc
              .get('Service.Environment')!
              .replace(/^"?SOCKACT_ARGS=/, '')
              .replace(/"$/, ''),
          )
          .replace('-l 8080,', '-l 127.0.0.1:0,')
          .replaceAll('/run/hello', dir)
          .replace('--name hello ', `--name hello-takeover-${process.pid} `)
          .split(' ');
      const [bin, ...args] = argsOf(svc.get('Service.ExecStart')!);
      const env = { ...process.env, NOTIFY_SOCKET: notify.path };
      const first = run(bin!, args, { env });
      running.push(first);
      const m = await first.waitFor('stderr', /listening on 127\.0\.0\.1:(\d+) as fd 3 \(web\)/);
      await notify.waitFor(/READY=1/);
      const before = servedBy(await get({ host: '127.0.0.1', port: Number(m[1]) }));
      // ExecReload= as systemd runs it: setsid -f forks the new sockact off and returns at once.
      const reload = argsOf(svc.get('Service.ExecReload')!);
      expect(reload.slice(0, 2)).toEqual(['/usr/bin/setsid', '-f']);
      const [, , rbin, ...rargs] = reload;
      const second = run(
        rbin!,
        rargs.map((a) => (a === `127.0.0.1:0,name=web` ? `127.0.0.1:${m[1]},name=web` : a)),
        { env },
      );
      running.push(second);
      await notify.waitFor(/MAINPID=/);
      expect((await first.exited).code).toBe(0); // the old sockact drained and left
      const after = servedBy(await get({ host: '127.0.0.1', port: Number(m[1]) }));
      expect(after).not.toBe(before);
      const mainPid = notify.messages().find((x) => /^MAINPID=/m.test(x.text))!;
      expect(mainPid.text).toMatch(new RegExp(`^MAINPID=${second.child.pid}$`, 'm'));
      expect(mainPid.pid).toBe(second.child.pid);
      expect(notify.states()).not.toContain('STOPPING=1');
    },
  );

  it('(d) hello-accept.socket + hello-accept@.service: one process per connection, each answers', async () => {
    const sock = unit('hello-accept.socket');
    const svc = unit('hello-accept@.service');
    expect(sock.get('Socket.Accept')).toBe('yes');
    const port = await freePort();
    const r = run('systemd-socket-activate', [
      '-a',
      '-l',
      `127.0.0.1:${port}`,
      ...svc.get('Service.ExecStart')!.split(' '),
    ]);
    running.push(r);
    await r.waitFor('stderr', /Listening on/);
    const [a, b] = await Promise.all([get({ host: '127.0.0.1', port }), get({ host: '127.0.0.1', port })]);
    expect(servedBy(a)).toBeGreaterThan(0);
    expect(servedBy(b)).toBeGreaterThan(0);
    expect(servedBy(a)).not.toBe(servedBy(b));
  });
});
