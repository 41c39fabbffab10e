// Sockets from .socket units, through sockact, to the program, under systemd 252: two
// ListenStream= with FileDescriptorName=, a ListenDatagram=, a ListenStream= path with
// SocketMode=, each its own unit (one FileDescriptorName= per unit), all in Sockets= of a service
// whose main process is sockact; the app finds each by its name and serves it. And Accept=yes,
// whose per-connection service is an app using the package.
import dgram from 'node:dgram';
import { statSync } from 'node:fs';
import { expect } from 'vitest';
import { httpGet } from '../_support/http.js';
import {
  APP,
  describeSystemd,
  freePort,
  helloPid,
  it,
  sockactService,
  unitsPerTest,
  waitJournal,
  waitShow,
} from '../_support/systemd.js';

/** One datagram to 127.0.0.1:`port` and the first answer. */
function udpExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no answer from udp 127.0.0.1:${port} within 10 s`));
    }, 10_000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString());
    });
    s.send(text, port, '127.0.0.1');
  });
}

const socketUnit = (listen: string, name: string, extra: string[] = []) =>
  ['[Socket]', listen, `FileDescriptorName=${name}`, 'Service=sockets.service', ...extra, ''].join('\n');

describeSystemd('sockets: .socket units through sockact to the program', (ctx) => {
  const units = unitsPerTest(ctx);

  it('ListenStream= x2 named, ListenDatagram=, a path with SocketMode=0600: by name, each serves', async () => {
    const { sd } = ctx;
    const [web, admin, udp] = [await freePort(), await freePort(), await freePort()];
    await units.install({
      'sockets-web.socket': socketUnit(`ListenStream=127.0.0.1:${web}`, 'web'),
      'sockets-admin.socket': socketUnit(`ListenStream=127.0.0.1:${admin}`, 'admin'),
      'sockets-udp.socket': socketUnit(`ListenDatagram=127.0.0.1:${udp}`, 'udp'),
      'sockets-unix.socket': socketUnit('ListenStream=/run/sockets-test/app.sock', 'unix', ['SocketMode=0600']),
      'sockets.service': sockactService(`--restart on-failure -- ${process.execPath} ${APP}`, [
        'Sockets=sockets-web.socket sockets-admin.socket sockets-udp.socket sockets-unix.socket',
      ]),
    });
    await sd.systemctl(
      'start',
      'sockets-web.socket',
      'sockets-admin.socket',
      'sockets-udp.socket',
      'sockets-unix.socket',
    );
    // The socket file as systemd made it: the mode SocketMode= says, root's.
    const path = `/proc/${sd.pid}/root/run/sockets-test/app.sock`;
    const st = statSync(path);
    expect({ socket: st.isSocket(), mode: (st.mode & 0o777).toString(8), uid: st.uid }).toEqual({
      socket: true,
      mode: '600',
      uid: 0,
    });
    await sd.systemctl('start', 'sockets.service');
    await waitShow(sd, 'sockets.service', ['ActiveState'], (v) => v.ActiveState === 'active', 'active');
    const journal = await waitJournal(sd, 'sockets.service', /app: pid (\d+) fd \d+ \(unix\)/);
    const app = Number(journal[1]);
    const text = await sd.journal('sockets.service');
    // sockact passes each inherited socket on with its name; the app gets them at 3.. in some
    // order (systemd's across units is not fixed: sd_listen_fds(3)), each with the right kind.
    for (const [name, type] of [
      ['web', 'server'],
      ['admin', 'server'],
      ['udp', 'dgram'],
      ['unix', 'server'],
    ]) {
      expect(text).toMatch(new RegExp(`passing on inherited \\S+ as fd \\d \\(${name}\\)`));
      expect(text).toMatch(new RegExp(`app: pid ${app} fd \\d \\(${name}\\): ${type}`));
    }
    expect(helloPid((await httpGet({ host: '127.0.0.1', port: web })).body)).toBe(app);
    expect(helloPid((await httpGet({ host: '127.0.0.1', port: admin })).body)).toBe(app);
    expect(helloPid((await httpGet({ socketPath: path })).body)).toBe(app);
    expect(await udpExchange(udp, 'ping')).toBe(`udp: hello from pid ${app}: ping\n`);
    // A reload keeps every socket (systemd's own) and names.
    await sd.systemctl('reload', 'sockets.service');
    await waitJournal(sd, 'sockets.service', /reloaded: generation 2 ready/);
    const next = helloPid((await httpGet({ host: '127.0.0.1', port: web })).body);
    expect(next).not.toBe(app);
    expect(await udpExchange(udp, 'again')).toBe(`udp: hello from pid ${next}: again\n`);
    expect(helloPid((await httpGet({ socketPath: path })).body)).toBe(next);
  }, 60_000);

  it('Accept=yes: one template instance per connection, each taking it through the package', async () => {
    const { sd } = ctx;
    const port = await freePort();
    await units.install({
      'per-conn.socket': ['[Socket]', `ListenStream=127.0.0.1:${port}`, 'Accept=yes', ''].join('\n'),
      'per-conn@.service': ['[Service]', 'Type=exec', `ExecStart=${process.execPath} ${APP}`, ''].join('\n'),
    });
    await sd.systemctl('start', 'per-conn.socket');
    const [a, b] = await Promise.all([httpGet({ host: '127.0.0.1', port }), httpGet({ host: '127.0.0.1', port })]);
    expect(helloPid(a.body)).toBeGreaterThan(0);
    expect(helloPid(b.body)).toBeGreaterThan(0);
    expect(helloPid(a.body)).not.toBe(helloPid(b.body));
    expect(Number((await sd.show('per-conn.socket', ['NAccepted'])).NAccepted)).toBe(2);
    // The instances' journals (-u takes a pattern; they are gone once their connection closed):
    // each app got fd 3, named "connection" by systemd, as a connection, through the package.
    await waitJournal(sd, 'per-conn@*.service', /app: pid \d+ fd 3 \(connection\): connection/, { count: 2 });
    const lines = (await sd.journal('per-conn@*.service')).match(/app: pid (\d+) fd 3 \(connection\): connection/g)!;
    expect(new Set(lines).size).toBe(2);
  }, 60_000);
});
