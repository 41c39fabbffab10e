// listen(): inherit-or-bind in one call, with node:http (and https/http2 servers for the fallback).
import { execFileSync } from 'node:child_process';
import { constants as fsc, openSync, readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listen } from '../../src/app/listen.js';
import { SockactError } from '../../src/protocol/errors.js';
import { httpGet } from '../_support/http.js';
import { fileTempDir } from '../_support/tmp.js';
import { FIXTURE, listener, runActivated, runApp, tcpBacklog } from './_helpers.js';

const dir = fileTempDir();

const get = async (port: number, host = '127.0.0.1') => (await httpGet({ host, port })).body;

const tcp = () => listener({ family: 'inet', address: '127.0.0.1', port: 0 });
const portOf = (l: ReturnType<typeof tcp>) => (l.addr as { port: number }).port;

describe('listen() activated (real children)', () => {
  it('takes the first listening stream socket when no name is given, skipping a UDP socket', async () => {
    const udp = listener({ family: 'inet', address: '127.0.0.1', port: 0 }, 'dgram');
    const web = tcp();
    const child = runApp([udp.fd, web.fd], 'listen', [], { LISTEN_FDNAMES: 'dns:web' });
    const got = await child.json();
    expect(got.result).toEqual({ activated: true, fd: 4, name: 'web', address: `127.0.0.1:${portOf(web)}` });
    // It resolved once the server was listening.
    expect(got.listening).toBe(true);
    // The only stream listener is taken: a second listen() says so instead of binding afresh.
    expect(got.second).toMatchObject({
      code: 'ERR_FD_ADOPTED',
      fd: 4,
      message: "fd 4 ('web') is already adopted by listen()",
    });
    expect(await get(portOf(web))).toBe(`hello from pid ${got.pid}\n`);
    await child.stop();
  });

  it('keeps the backlog the launcher set (Node alone would shrink it to 511), or sets the one given', async () => {
    // [backlog option, what the row proves]
    const rows: [number | undefined, string][] = [
      [undefined, 'the default leaves the queue as large as the launcher made it (capped by somaxconn)'],
      [100, 'an explicit backlog reaches listen(2) (listen({ fd, backlog }) alone ignores it)'],
    ];
    for (const [backlog, proves] of rows) {
      // 4096: what systemd and sockact's launcher ask for (the kernel caps it at net.core.somaxconn).
      const web = listener({ family: 'inet', address: '127.0.0.1', port: 0 }, 'stream', 4096);
      const before = tcpBacklog(portOf(web));
      // At 511 or less (a small net.core.somaxconn) Node's own default would look the same.
      expect(before, "the launcher-set backlog must exceed 511 to tell it from Node's").toBeGreaterThan(511);
      const child = runApp([web.fd], 'listen', backlog === undefined ? [] : [`--backlog=${backlog}`]);
      const got = await child.json();
      expect(got.result, proves).toMatchObject({ activated: true, fd: 3 });
      expect(tcpBacklog(portOf(web)), proves).toBe(backlog ?? before);
      await child.stop();
    }
  });

  it('takes the fd with that name, and the next one with the same name on the next call', async () => {
    const [a, b, c] = [tcp(), tcp(), tcp()];
    const child = runApp([a.fd, b.fd, c.fd], 'listen', ['web'], { LISTEN_FDNAMES: 'api:web:web' });
    const got = await child.json();
    expect(got.result).toMatchObject({ activated: true, fd: 4, name: 'web' });
    // Names are not unique (a socket unit with two ListenStream= names both fds after itself).
    expect(got.second).toMatchObject({ activated: true, fd: 5, name: 'web' });
    expect(await get(portOf(b))).toBe(`hello from pid ${got.pid}\n`);
    await child.stop();
  });

  it('a name nobody has is an error listing what there is', async () => {
    const child = runApp([tcp().fd, tcp().fd], 'listen', ['nope', '--port=0'], { LISTEN_FDNAMES: 'api:web' });
    const got = await child.json();
    // Activated: the fallback port is not used, never a silent fresh bind.
    expect(got.error).toMatchObject({
      code: 'ERR_NO_FD',
      message: "no inherited fd is named 'nope' (fd 3 'api', fd 4 'web')",
    });
    await child.stop();
  });

  it('a name that is a UDP socket is a kind mismatch naming the fd', async () => {
    const udp = listener({ family: 'inet', address: '127.0.0.1', port: 0 }, 'dgram');
    const child = runApp([udp.fd], 'listen', ['dns'], { LISTEN_FDNAMES: 'dns' });
    const got = await child.json();
    expect(got.error).toMatchObject({ code: 'ERR_FD_KIND', fd: 3 });
    expect(got.error.message).toBe(
      `fd 3 ('dns') is a UDP socket on 127.0.0.1:${portOf(udp)}, expected a listening stream socket`,
    );
    await child.stop();
  });

  it('a name that is a FIFO is a kind mismatch naming the fd', async () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const child = runApp([openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK)], 'listen', ['queue'], {
      LISTEN_FDNAMES: 'queue',
    });
    const got = await child.json();
    expect(got.error).toMatchObject({
      code: 'ERR_FD_KIND',
      fd: 3,
      fdName: 'queue',
      message: "fd 3 ('queue') is a FIFO, expected a listening stream socket",
    });
    await child.stop();
  });

  it('no stream listener at all is an error', async () => {
    const sock = listener({ family: 'unix', path: path.join(dir, 'only-dgram.sock') }, 'dgram');
    const child = runApp([sock.fd], 'listen');
    const got = await child.json();
    expect(got.error.message).toMatch(
      /^none of the 1 inherited fds is a listening stream socket: fd 3 is a UNIX datagram socket on .*only-dgram\.sock, expected a listening stream socket$/,
    );
    await child.stop();
  });

  it('serves a UNIX socket path', async () => {
    const sockPath = path.join(dir, 'web.sock');
    const child = runApp([listener({ family: 'unix', path: sockPath }).fd], 'listen');
    const got = await child.json();
    expect(got.result).toEqual({ activated: true, fd: 3, name: 'unknown', address: sockPath });
    const { body } = await httpGet({ socketPath: sockPath });
    expect(body).toBe(`hello from pid ${got.pid}\n`);
    await child.stop();
  });
});

describe('listen() and a stale SOCKACT_FDS_SOCKET', () => {
  it('with no LISTEN_* at all, binds the fallback instead of asking a launcher that is gone', async () => {
    const stale = path.join(dir, 'gone', 'fds.sock');
    const child = runActivated(
      [],
      process.execPath,
      [FIXTURE, 'listen', '--port=0'],
      { SOCKACT_FDS_SOCKET: stale },
      { trampoline: false },
    );
    const got = await child.json();
    expect(got.error).toBeUndefined();
    expect(got.result).toMatchObject({ activated: false, address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    await child.stop();
  });

  it('with a LISTEN_PID that is not ours (behind a wrapper), asks it, and says why that failed', async () => {
    const stale = path.join(dir, 'gone', 'fds.sock');
    const child = runActivated(
      [],
      process.execPath,
      [FIXTURE, 'listen', '--port=0'],
      { SOCKACT_FDS_SOCKET: stale, LISTEN_PID: '1', LISTEN_FDS: '1' },
      { trampoline: false },
    );
    const got = await child.json();
    expect(got.error).toMatchObject({ code: 'ERR_HANDOFF', variable: 'SOCKACT_FDS_SOCKET', value: stale });
    await child.stop();
  });
});

describe('listen() not activated: the fallback (in this process, which was not activated)', () => {
  it('binds port/host and resolves once listening', async () => {
    const server = http.createServer((_req, res) => res.end('fallback'));
    const r = await listen(server, { port: 0, host: '127.0.0.1' });
    expect(server.listening).toBe(true);
    const port = (server.address() as AddressInfo).port;
    expect(r).toEqual({ activated: false, address: `127.0.0.1:${port}` });
    expect(await get(port)).toBe('fallback');
    server.close();
  });

  it('binds a UNIX path', async () => {
    const server = http.createServer();
    const p = path.join(dir, 'fallback.sock');
    expect(await listen(server, { path: p })).toEqual({ activated: false, address: p });
    server.close();
  });

  it('EADDRINUSE is one clear line with the code and the cause kept', async () => {
    const first = http.createServer();
    await listen(first, { port: 0, host: '127.0.0.1' });
    const port = (first.address() as AddressInfo).port;
    const err = await listen(http.createServer(), { port, host: '127.0.0.1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SockactError);
    expect(err).toMatchObject({
      code: 'EADDRINUSE',
      message: `can't listen on 127.0.0.1:${port}: address already in use`,
    });
    expect((err as Error).cause).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen' });
    first.close();
  });

  it('no fallback given is an error, not a random port', async () => {
    await expect(listen(http.createServer())).rejects.toThrow(
      'not socket-activated and no fallback to bind: pass port or path',
    );
  });

  it('a server that already listens is refused', async () => {
    const server = http.createServer();
    await listen(server, { port: 0, host: '127.0.0.1' });
    await expect(listen(server, { port: 0 })).rejects.toMatchObject({ code: 'ERR_SERVER_LISTENING' });
    server.close();
  });

  it('works with http2 and https servers (anything with net.Server.listen)', async () => {
    const h2 = http2.createServer((_req, res) => res.end('h2'));
    const r2 = await listen(h2, { port: 0, host: '127.0.0.1' });
    const client = http2.connect(`http://${r2.address}`);
    const body = await new Promise<string>((resolve, reject) => {
      let b = '';
      const req = client.request({ ':path': '/' });
      req
        .setEncoding('utf8')
        .on('data', (d) => (b += d))
        .on('end', () => resolve(b))
        .on('error', reject);
    });
    expect(body).toBe('h2');
    client.close();
    h2.close();

    // A throwaway self-signed certificate, made here with openssl.
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      {
        stdio: 'ignore',
      },
    );
    const tls = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end('tls'));
    const rs = await listen(tls, { port: 0, host: '127.0.0.1' });
    const tlsBody = await new Promise<string>((resolve, reject) => {
      https
        .get(`https://${rs.address}/`, { ca: readFileSync(cert), servername: 'localhost', agent: false }, (res) => {
          let b = '';
          res
            .setEncoding('utf8')
            .on('data', (d) => (b += d))
            .on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    expect(tlsBody).toBe('tls');
    tls.close();
  });
});
