// Node's private internals that sockact relies on (src/app/node-internals.ts), one test each, on
// real sockets of the running Node: a release that changes one fails here, naming the internal
// and the Node version, instead of silently turning connection migration off.
import { readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  countConnection,
  fdOf,
  hasHttpParser,
  isReading,
  parserIdleSockets,
  responding,
  resumeReading,
  stopReading,
} from '../../src/app/node-internals.js';
import { POLLIN } from '../../src/sys/constants.js';
import { closeFd } from '../../src/sys/fd.js';
import { pollSync } from '../../src/sys/poll.js';
import { socketpair } from '../../src/sys/socket.js';

const NODE = `Node ${process.version}`;
const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

async function listening<T extends net.Server>(server: T): Promise<T> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => server.close());
  return server;
}

function port(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

/** A connected pair on loopback: the client, and the server side as the server accepted it. */
async function pair(server: net.Server): Promise<{ client: net.Socket; accepted: net.Socket }> {
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(port(server), '127.0.0.1');
  client.on('error', () => {});
  cleanup.push(() => client.destroy());
  return { client, accepted: await accepted };
}

/** Wait until `cond` holds (bounded): bytes read by the server, a handler run. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}

/** Two turns of the event loop: libuv polls (and would read) in between. */
const loopTurns = () => new Promise((r) => setImmediate(() => setImmediate(r)));

describe(`Node's private internals (${NODE})`, () => {
  it('net.Socket#_handle.fd and net.Server#_handle.fd: the socket fds themselves', async () => {
    const server = await listening(net.createServer());
    const { accepted } = await pair(server);
    for (const [what, s] of [
      ['net.Server#_handle.fd', server],
      ['net.Socket#_handle.fd', accepted],
    ] as const) {
      const fd = fdOf(s);
      expect(fd, `${NODE} changed ${what}`).toBeTypeOf('number');
      expect(readlinkSync(`/proc/self/fd/${fd}`), `${NODE} changed ${what}: not a socket`).toMatch(/^socket:\[\d+\]$/);
    }
    accepted.destroy();
    expect(fdOf(accepted), `${NODE}: a destroyed socket still has _handle.fd`).toBeUndefined();
  });

  it('net.Socket#_handle.reading, readStop(), readStart(): stopped, the bytes wait in the kernel', async () => {
    const server = await listening(net.createServer());
    const { client, accepted } = await pair(server);
    let got = '';
    accepted.setEncoding('utf8').on('data', (d: string) => (got += d));
    await loopTurns();
    expect(isReading(accepted), `${NODE} changed net.Socket#_handle.reading`).toBe(true);
    stopReading(accepted);
    expect(isReading(accepted), `${NODE} changed net.Socket#_handle.reading`).toBe(false);
    client.write('x');
    expect(pollSync([fdOf(accepted)!], 5000).some((r) => (r.revents & POLLIN) !== 0)).toBe(true);
    await loopTurns();
    expect(got, `${NODE} changed net.Socket#_handle.readStop(): still reading`).toBe('');
    resumeReading(accepted);
    await until(() => got !== '');
    expect(got, `${NODE} changed net.Socket#_handle.readStart()`).toBe('x');
  });

  it("net.Server#_connections, net.Socket#server/_server: a socket made from a fd counts as the server's", async () => {
    const server = await listening(net.createServer());
    await pair(server);
    // A socket the server never accepted (one end of a socketpair), counted as migrate.ts counts one.
    const [a, b] = socketpair('stream');
    cleanup.push(() => closeFd(b));
    const made = new net.Socket({ fd: a, readable: true, writable: true });
    countConnection(server, made);
    const count = () => new Promise<number>((res, rej) => server.getConnections((e, n) => (e ? rej(e) : res(n))));
    expect(await count(), `${NODE} changed net.Server#_connections`).toBe(2);
    made.destroy();
    await until(() => made.destroyed);
    await loopTurns();
    expect(await count(), `${NODE} changed net.Socket#_server (Socket#_destroy no longer decrements)`).toBe(1);
  });

  it("http.Server's ConnectionsList (Symbol(http.server.connections)).idle(): between messages only", async () => {
    const server = await listening(http.createServer((_req, res) => res.end('ok')));
    const idle = () => parserIdleSockets(server);
    expect(idle(), `${NODE} changed http.Server[Symbol('http.server.connections')]`).toBeInstanceOf(Set);
    const { client, accepted } = await pair(server);
    let answers = 0;
    client.on('data', (d: Buffer) => (answers += d.toString().split('HTTP/1.1 200').length - 1));
    // Each piece written is waited for until the server has read it (bytesRead), so the parser has it.
    const send = async (text: string) => {
      const before = accepted.bytesRead;
      client.write(text);
      await until(() => accepted.bytesRead >= before + text.length);
    };
    await until(() => idle()!.has(accepted));
    expect(idle()!.has(accepted), `${NODE}: a fresh connection is not in ConnectionsList.all()`).toBe(true);
    await send('GET / HTTP/1.1\r\nHo');
    expect(idle()!.has(accepted), `${NODE}: half a request is idle in ConnectionsList`).toBe(false);
    await send('st: x\r\n\r\n');
    await until(() => answers === 1);
    expect(idle()!.has(accepted), `${NODE}: an answered request is not idle in ConnectionsList`).toBe(true);
    await send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n');
    await until(() => answers === 2);
    expect(idle()!.has(accepted), `${NODE}: a request answered before its body is idle in ConnectionsList`).toBe(false);
    await send('body');
    expect(idle()!.has(accepted), `${NODE}: the body's end does not end the message in ConnectionsList`).toBe(true);
  });

  it('net.Socket#_httpMessage: set while a response is being written', async () => {
    let during: boolean | undefined;
    const server = await listening(
      http.createServer((req, res) => {
        during = responding(req.socket);
        res.end('ok');
      }),
    );
    const { client, accepted } = await pair(server);
    let answered = false;
    client.on('data', () => (answered = true));
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => answered);
    expect(during, `${NODE} changed net.Socket#_httpMessage`).toBe(true);
    expect(responding(accepted), `${NODE} changed net.Socket#_httpMessage: still set after the response`).toBe(false);
  });

  it('net.Socket#parser: set on an HTTP/1 connection, gone once it is upgraded', async () => {
    const server = await listening(http.createServer());
    server.on('upgrade', (_req, socket: net.Socket) => socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n'));
    const { client, accepted } = await pair(server);
    await until(() => hasHttpParser(accepted));
    expect(hasHttpParser(accepted), `${NODE} changed net.Socket#parser`).toBe(true);
    let switched = false;
    client.on('data', () => (switched = true));
    client.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n');
    await until(() => switched);
    expect(hasHttpParser(accepted), `${NODE} changed net.Socket#parser: kept after an upgrade`).toBe(false);
  });
});
