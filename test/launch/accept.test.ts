import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { remoteEnv, runAccept, type AcceptServer } from '../../src/launch/accept.js';
import { bindAll, closeSockets, type BoundSocket } from '../../src/launch/bind.js';
import { parseListen } from '../../src/protocol/address.js';
import { closeFd, O_CLOEXEC, O_NONBLOCK, pipe, readFd } from '../../src/sys/index.js';
import { exchange, PYTHON } from '../_support/launcher.js';

/** A per-connection child that asks libsystemd what it got (see the fixture). */
const CONNECTION_PEER = join(import.meta.dirname, 'fixtures/connection-peer.py');
/** Inetd child: greets with its pid on stdout (the connection), then waits for EOF on stdin. */
const INETD_HOLD = join(import.meta.dirname, 'fixtures/inetd-hold.py');

const open: BoundSocket[] = [];
const servers: AcceptServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.stop();
    await s.done;
  }
  closeSockets(open.splice(0));
});

function listener(text = '127.0.0.1:0'): { socket: BoundSocket; port: number } {
  const [socket] = bindAll([parseListen(text)]);
  open.push(socket!);
  return { socket: socket!, port: (socket!.local as { port: number }).port };
}

function firstLine(s: Socket): Promise<string> {
  return new Promise((res, rej) => {
    let buf = '';
    s.setEncoding('utf8');
    const onData = (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.off('data', onData);
        res(buf.slice(0, nl));
      }
    };
    s.on('data', onData);
    s.on('error', rej);
  });
}

describe('runAccept', () => {
  it(
    'starts one child per connection with the connection at fd 3, ' +
      'LISTEN_FDS=1, named "connection", blocking, REMOTE_* set',
    async () => {
      const { socket, port } = listener();
      const server = runAccept({ sockets: [socket], program: PYTHON, args: [CONNECTION_PEER] });
      servers.push(server);
      const replies = await Promise.all([exchange({ host: '127.0.0.1', port }), exchange({ host: '127.0.0.1', port })]);
      for (const reply of replies) {
        const got = JSON.parse(reply);
        expect(got).toMatchObject({
          n: 1,
          names: ['connection'],
          own_pid: true,
          stream_connection: true,
          nonblock: false,
        });
        expect(got.remote[0]).toBe('127.0.0.1');
        expect(Number(got.remote[1])).toBeGreaterThan(0);
      }
    },
  );

  it('reports IPv4 peers of a dual-stack socket as IPv4 in REMOTE_ADDR', async () => {
    const { socket, port } = listener('0');
    const server = runAccept({ sockets: [socket], program: PYTHON, args: [CONNECTION_PEER] });
    servers.push(server);
    expect(JSON.parse(await exchange({ host: '127.0.0.1', port })).remote[0]).toBe('127.0.0.1');
    expect(JSON.parse(await exchange({ host: '::1', port })).remote[0]).toBe('::1');
  });

  it('in inetd mode puts the connection on stdin and stdout', async () => {
    const { socket, port } = listener();
    servers.push(runAccept({ sockets: [socket], program: 'cat', inetd: true }));
    expect(await exchange({ host: '127.0.0.1', port }, 'echo through cat\n')).toBe('echo through cat\n');
  });

  it('caps concurrent children: at the cap, the next connection waits in the backlog until a child exits', async () => {
    const { socket, port } = listener();
    const events: string[] = [];
    const server = runAccept({
      sockets: [socket],
      program: PYTHON,
      args: [INETD_HOLD],
      inetd: true,
      maxConnections: 1,
      log: (line) => events.push(line.replace(/ from \S+/, '')),
    });
    servers.push(server);
    const a = connect({ host: '127.0.0.1', port });
    const greetingA = await firstLine(a);
    // B's handshake completes in the kernel, but no child may start for it while A's runs.
    const b = connect({ host: '127.0.0.1', port });
    await new Promise((r) => b.once('connect', r));
    const greetingB = firstLine(b);
    expect(server.children.size).toBe(1);
    a.end();
    const lineB = await greetingB;
    b.end();
    const pidA = /^pid (\d+) 127\.0\.0\.1$/.exec(greetingA)![1];
    const pidB = /^pid (\d+) 127\.0\.0\.1$/.exec(lineB)![1];
    expect(pidB).not.toBe(pidA);
    const startedB = events.findIndex((e) => e.endsWith(`as pid ${pidB}`));
    const exitedA = events.indexOf(`pid ${pidA} exited with code 0`);
    expect(exitedA).toBeGreaterThanOrEqual(0);
    expect(startedB).toBeGreaterThan(exitedA);
  });

  it('stops accepting on stop()', async () => {
    const { socket } = listener();
    const server = runAccept({ sockets: [socket], program: 'cat', inetd: true });
    server.stop();
    await expect(server.done).resolves.toBeUndefined();
    expect(server.children.size).toBe(0);
  });

  it('ends with an error naming the socket when poll() rejects it, and a later stop() touches no fd', async () => {
    // A fd number that is not open: poll() answers POLLNVAL for it, as for a socket closed under it.
    const notOpen = 4000;
    expect(readdirSync('/proc/self/fd')).not.toContain(String(notOpen));
    const server = runAccept({ sockets: [{ fd: notOpen, label: 'fd 4000' }], program: 'cat' });
    await expect(server.done).rejects.toThrow(/^can't accept on fd 4000: the socket failed/);
    await expect(server.done).rejects.toMatchObject({ code: 'ERR_ACCEPT', address: 'fd 4000', fd: notOpen });
    // The wake-up pipe is closed now; its numbers go to the next fds opened, such as this pipe.
    const [r, w] = pipe(O_CLOEXEC | O_NONBLOCK);
    try {
      expect(() => server.stop()).not.toThrow();
      expect(() => readFd(r, Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    } finally {
      closeFd(r);
      closeFd(w);
    }
  });
});

describe('remoteEnv', () => {
  it.each([
    [
      { family: 'inet' as const, address: '10.0.0.1', port: 5 },
      { REMOTE_ADDR: '10.0.0.1', REMOTE_PORT: '5' },
    ],
    [
      { family: 'inet6' as const, address: '::ffff:10.0.0.1', port: 5 },
      { REMOTE_ADDR: '10.0.0.1', REMOTE_PORT: '5' },
    ],
    [
      { family: 'inet6' as const, address: 'fe80::1', port: 6 },
      { REMOTE_ADDR: 'fe80::1', REMOTE_PORT: '6' },
    ],
    // systemd sets no REMOTE_* for UNIX peers.
    [{ family: 'unix' as const, path: '' }, {}],
  ])('%j', (peer, env) => {
    expect(remoteEnv(peer)).toEqual(env);
  });
});
