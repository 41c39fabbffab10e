// getListeners() in a real child: every kind of inherited fd becomes a ready Node object (or an
// "unsupported" entry), and real clients reach each one.
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { openSync, writeFileSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as sys from '../../src/sys/index.js';
import { httpGet, type HttpTarget } from '../_support/http.js';
import { abstractName, fileTempDir } from '../_support/tmp.js';
import { acceptedConnection, listener, runApp, tcpBacklog } from './_helpers.js';

/** JSON read back from a child process: its shape is what the assertions check. */
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON from a child, checked field by field below.
type Any = any;

const dir = fileTempDir();

const get = async (target: HttpTarget) => (await httpGet(target)).body;

function udpRoundTrip(type: 'udp4' | 'udp6', address: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(type);
    s.once('message', (msg) => {
      s.close();
      resolve(msg.toString());
    });
    s.once('error', reject);
    s.send(text, port, address);
  });
}

describe('getListeners() in an activated child', () => {
  it(
    'serves TCP v4/v6, UNIX path and abstract, UDP v4/v6, ' + 'a FIFO and a file; reports UNIX dgram and seqpacket',
    async () => {
      const unixPath = path.join(dir, 'web.sock');
      const abstract = abstractName();
      const fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const stored = path.join(dir, 'stored');
      writeFileSync(stored, 'stored state');
      const tcp4 = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
      const tcp6 = listener({ family: 'inet6', address: '::1', port: 0 });
      const udp4 = listener({ family: 'inet', address: '127.0.0.1', port: 0 }, 'dgram');
      const udp6 = listener({ family: 'inet6', address: '::1', port: 0 }, 'dgram');
      const fds = [
        tcp4.fd,
        tcp6.fd,
        listener({ family: 'unix', path: unixPath }).fd,
        listener({ family: 'unix', path: abstract }).fd,
        udp4.fd,
        udp6.fd,
        listener({ family: 'unix', path: path.join(dir, 'dgram.sock') }, 'dgram').fd,
        listener({ family: 'unix', path: path.join(dir, 'seq.sock') }, 'seqpacket').fd,
        openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK),
        openSync(stored, 'r'),
      ];
      const names = ['tcp4', 'tcp6', 'path', 'abstract', 'udp4', 'udp6', 'unixdgram', 'seq', 'fifo', 'stored'];
      const child = runApp(fds, 'serve', [], { LISTEN_FDNAMES: names.join(':') });
      const got = await child.json();
      const pid = got.pid;

      expect(got.listeners.map((l: Record<string, unknown>) => [l.fd, l.name, l.type])).toEqual([
        [3, 'tcp4', 'server'],
        [4, 'tcp6', 'server'],
        [5, 'path', 'server'],
        [6, 'abstract', 'server'],
        [7, 'udp4', 'dgram'],
        [8, 'udp6', 'dgram'],
        [9, 'unixdgram', 'unsupported'],
        [10, 'seq', 'unsupported'],
        [11, 'fifo', 'stream'],
        [12, 'stored', 'stream'],
      ]);
      expect(got.listeners.slice(0, 4).every((l: Record<string, unknown>) => l.listening)).toBe(true);
      // The dgram socket has the socket's real family.
      expect(got.listeners[4].socketFamily).toBe('IPv4');
      expect(got.listeners[5].socketFamily).toBe('IPv6');
      expect(got.listeners[6].reason).toMatch(
        /^fd 9 is a UNIX datagram socket on .*dgram\.sock, which Node cannot serve/,
      );
      expect(got.listeners[7].reason).toMatch(
        /^fd 10 is a UNIX seqpacket socket on .*seq\.sock, which Node cannot serve/,
      );
      // Adopting again is a clear error, by either door.
      expect(got.again).toMatchObject({
        code: 'ERR_FD_ADOPTED',
        fd: 3,
        message: "fd 3 ('tcp4') is already adopted by getListeners()",
      });
      expect(got.viaListen).toMatchObject({ code: 'ERR_FD_ADOPTED', fd: 3 });

      const port4 = (tcp4.addr as { port: number }).port;
      const port6 = (tcp6.addr as { port: number }).port;
      expect(await get({ host: '127.0.0.1', port: port4 })).toBe(`hello tcp4 fd 3 pid ${pid}\n`);
      expect(await get({ host: '::1', port: port6 })).toBe(`hello tcp6 fd 4 pid ${pid}\n`);
      expect(await get({ socketPath: unixPath })).toBe(`hello path fd 5 pid ${pid}\n`);
      // Node pads abstract names to 108 bytes; Python, like systemd, uses the exact name.
      expect(await get({ abstract })).toBe(`hello abstract fd 6 pid ${pid}\n`);
      expect(await udpRoundTrip('udp4', '127.0.0.1', (udp4.addr as { port: number }).port, 'ping4')).toBe(
        'echo udp4 fd 7: ping4',
      );
      expect(await udpRoundTrip('udp6', '::1', (udp6.addr as { port: number }).port, 'ping6')).toBe(
        'echo udp6 fd 8: ping6',
      );
      // The file is read from offset 0; the FIFO carries what we write into it.
      const seen = [await child.json()];
      writeFileSync(fifo, 'through the fifo');
      seen.push(await child.json());
      expect(seen).toContainEqual({ stream: 12, data: 'stored state' });
      expect(seen).toContainEqual({ stream: 11, data: 'through the fifo' });
      expect(await child.stop()).toBe(0);
    },
  );

  it('keeps the backlog of adopted listeners (Node alone would shrink it to 511), or sets the one given', async () => {
    for (const backlog of [undefined, 100]) {
      const web = listener({ family: 'inet', address: '127.0.0.1', port: 0 }, 'stream', 4096);
      const port = (web.addr as { port: number }).port;
      const before = tcpBacklog(port);
      // At 511 or less (a small net.core.somaxconn) Node's own default would look the same.
      expect(before, "the launcher-set backlog must exceed 511 to tell it from Node's").toBeGreaterThan(511);
      const child = runApp([web.fd], 'serve', backlog === undefined ? [] : [`--backlog=${backlog}`]);
      expect((await child.json()).listeners).toEqual([
        expect.objectContaining({ fd: 3, type: 'server', listening: true }),
      ]);
      expect(tcpBacklog(port)).toBe(backlog ?? before);
      await child.stop();
    }
  });

  it('hands an accepted connection (Accept=yes) over as a net.Socket', async () => {
    const { client, fd } = await acceptedConnection();
    const child = runApp([fd], 'serve', [], { LISTEN_FDNAMES: 'connection' });
    const got = await child.json();
    expect(got.listeners).toEqual([
      expect.objectContaining({ fd: 3, name: 'connection', type: 'connection', family: 'inet' }),
    ]);
    let text = '';
    client.setEncoding('utf8').on('data', (d) => (text += d));
    await new Promise((r) => client.once('end', r));
    expect(text).toBe(`connection connection fd 3 pid ${got.pid}\n`);
    await child.stop();
  });

  it(
    'a stream socket that is bound but neither listening nor connected, ' +
      'or not even bound, is unsupported with a reason (go-systemd: nil), never a net.Socket',
    async () => {
      const bound = sys.socket('inet', 'stream');
      sys.bind(bound, { family: 'inet', address: '127.0.0.1', port: 0 });
      const port = (sys.getsockname(bound) as { port: number }).port;
      const fresh = sys.socket('inet', 'stream');
      const child = runApp([bound, fresh], 'serve', [], { LISTEN_FDNAMES: 'bound:fresh' });
      const got = await child.json();
      expect(got.error).toBeUndefined();
      expect(got.listeners.map((l: Any) => [l.fd, l.type, l.reason])).toEqual([
        [
          3,
          'unsupported',
          `fd 3 is a TCP socket on 127.0.0.1:${port} that is neither listening nor connected, ` +
            `which Node cannot serve; use listenFds() and the fd directly`,
        ],
        [
          4,
          'unsupported',
          'fd 4 is a TCP socket on 0.0.0.0:0 that is neither listening nor connected, ' +
            'which Node cannot serve; use listenFds() and the fd directly',
        ],
      ]);
      // Nothing emitted ENOTCONN: the child is still alive.
      expect(child.proc.exitCode).toBe(null);
      expect(await child.stop()).toBe(0);
    },
  );

  it('reports a bad fd as an error instead of adopting anything', async () => {
    const { fd } = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const child = runApp([fd], 'serve', [], { LISTEN_FDS: '2' });
    const got = await child.json();
    expect(got.error).toMatchObject({ code: 'ERR_LISTEN_FD', fd: 4 });
    await child.stop();
  });

  it('returns [] when not activated', async () => {
    const child = runApp([], 'serve');
    const got = await child.json();
    expect(got.listeners).toEqual([]);
    // Nothing was adopted, so a second call is fine too.
    expect(got.again).toBe('no error');
    await child.stop();
  });
});
