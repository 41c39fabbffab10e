// contrib/systemd, run: each service's real ExecStart (localized to this checkout) is started
// the way its unit says, with systemd-socket-activate standing in for systemd's socket units
// (same fds at 3.., LISTEN_FDNAMES from FileDescriptorName=, Accept=yes as -a), and a real
// AF_UNIX datagram socket standing in for systemd's notify socket. A running systemd cannot be
// had here; this shows what each unit's program does with what systemd passes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, run, sockact, tempDir, type Run } from '../_support/launcher.js';
import { localize, unitsDir, unitValues } from '../_support/units.js';
import { bind, closeFd, pollAsync, recvmsg, socket } from '../../src/sys/index.js';

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

/** A notify socket like systemd's: resolves with datagrams as they arrive. */
function notifyReceiver(dir: string) {
  const path = join(dir, 'notify');
  const fd = socket('unix', 'dgram');
  bind(fd, { family: 'unix', path });
  const got: string[] = [];
  return {
    path,
    got,
    async waitFor(text: string, ms = 10_000) {
      const end = Date.now() + ms;
      while (!got.some((g) => g.includes(text))) {
        if (Date.now() > end) throw new Error(`no ${JSON.stringify(text)} in ${JSON.stringify(got)}`);
        await pollAsync([fd], 200);
        for (let m = recvmsg(fd); m; m = recvmsg(fd)) got.push(m.data.toString());
      }
    },
    close: () => closeFd(fd),
  };
}

const running: Run[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  // SIGTERM, not SIGKILL: a launcher forwards it, so its program exits too and the pipes close.
  for (const r of running.splice(0)) {
    r.child.kill('SIGTERM');
    await r.exited;
  }
  for (const c of cleanups.splice(0)) c();
});

function get(port: number): Promise<string> {
  return exchange({ host: '127.0.0.1', port }, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
}

describe('contrib/systemd units, run as their unit says', () => {
  it('hello.socket + hello.service: serves the named socket, sends READY=1, drains on SIGTERM with STOPPING=1', async () => {
    const sock = unit('hello.socket');
    const svc = unit('hello.service');
    expect(svc.get('Service.Type')).toBe('notify');
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const notify = notifyReceiver(dir);
    cleanups.push(notify.close);
    const port = await freePort();
    const argv = svc.get('Service.ExecStart')!.split(' ');
    const r = run('systemd-socket-activate', [
      '-l', `127.0.0.1:${port}`,
      `--fdname=${sock.get('Socket.FileDescriptorName')}`,
      '-E', `NOTIFY_SOCKET=${notify.path}`,
      ...argv,
    ]);
    running.push(r);
    await r.waitFor('stderr', /Listening on/);
    // systemd-socket-activate execs the service on the first connection, which then waits in the backlog.
    expect(await get(port)).toMatch(/^HTTP\/1\.1 200[\s\S]*hello from pid \d+/);
    await notify.waitFor('READY=1');
    r.child.kill('SIGTERM');
    await notify.waitFor('STOPPING=1');
    expect((await r.exited).code).toBe(0);
  });

  it('hello-accept.socket + hello-accept@.service: one process per connection, each answers', async () => {
    const sock = unit('hello-accept.socket');
    const svc = unit('hello-accept@.service');
    expect(sock.get('Socket.Accept')).toBe('yes');
    const port = await freePort();
    const r = run('systemd-socket-activate', ['-a', '-l', `127.0.0.1:${port}`, ...svc.get('Service.ExecStart')!.split(' ')]);
    running.push(r);
    await r.waitFor('stderr', /Listening on/);
    const [a, b] = await Promise.all([get(port), get(port)]);
    const pid = (s: string) => /hello from pid (\d+)/.exec(s)?.[1];
    expect(pid(a)).toBeTruthy();
    expect(pid(b)).toBeTruthy();
    expect(pid(a)).not.toBe(pid(b));
  });

  it('sockact-hello.service: sockact binds a TCP port and a UNIX socket (mode 0660), drops to nobody, the app serves both', async () => {
    const svc = unit('sockact-hello.service');
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    // RuntimeDirectory=hello is /run/hello under systemd; here a private temp dir; port 8080 -> a free loopback port.
    const line = svc.get('Service.ExecStart')!.replace('-l 8080,', '-l 127.0.0.1:0,').replaceAll('/run/hello', dir);
    const [bin, ...args] = line.split(' ');
    expect(bin).toMatch(/sockact\.js$/);
    const r = sockact(args);
    running.push(r);
    const m = await r.waitFor('stderr', /listening on 127\.0\.0\.1:(\d+) as fd 3 \(web\)/);
    await r.waitFor('stderr', /listening on \S+admin\.sock as fd 4 \(admin\)/);
    expect(await get(Number(m[1]))).toMatch(/hello from pid \d+/);
    const viaUnix = await exchange({ path: join(dir, 'admin.sock') }, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(viaUnix).toMatch(/hello from pid \d+/);
    r.child.kill('SIGTERM');
    expect((await r.exited).code).toBe(0);
  });

  it('sockact-inherit.socket + .service: the socket systemd passed stays fd 3 ("web"), sockact adds its own after it', async () => {
    const sock = unit('sockact-inherit.socket');
    const svc = unit('sockact-inherit.service');
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const port = await freePort();
    const argv = svc.get('Service.ExecStart')!.replaceAll('/run/sockact-inherit', dir).split(' ');
    const r = run('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, `--fdname=${sock.get('Socket.FileDescriptorName')}`, ...argv]);
    running.push(r);
    await r.waitFor('stderr', /Listening on/);
    expect(await get(port)).toMatch(/hello from pid \d+/);
    await r.waitFor('stderr', /listening on \S+admin\.sock as fd 4 \(admin\)/);
    expect(r.stderr).toMatch(/fd 3 \(web\)/);
    const viaUnix = await exchange({ path: join(dir, 'admin.sock') }, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(viaUnix).toMatch(/hello from pid \d+/);
  });
});
