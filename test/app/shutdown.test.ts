// Graceful stop with real HTTP clients: drain in-flight requests, close idle keep-alive
// connections, force-close after the timeout, STOPPING=1, and the SIGTERM wiring in a child.
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { shutdown, trackConnections } from '../../src/app/shutdown.js';
import * as sys from '../../src/sys/index.js';
import { abstractName, listener, runApp, wrap, type Child } from './_helpers.js';

const children: Child[] = [];
afterEach(() => {
  delete process.env.NOTIFY_SOCKET;
  for (const c of children.splice(0)) c.proc.kill();
});

/** A server whose requests wait until the test releases them. */
async function heldServer(): Promise<{ server: http.Server; port: number; arrived: Promise<void>; release: (body: string) => void }> {
  let release!: (body: string) => void;
  let arrived!: () => void;
  const arrivedP = new Promise<void>((r) => (arrived = r));
  const gate = new Promise<string>((r) => (release = r));
  const server = http.createServer(async (_req, res) => {
    arrived();
    res.end(await gate);
  });
  // Long enough that only shutdown() can be the reason an idle connection closes.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port, arrived: arrivedP, release };
}

function request(port: number, agent: http.Agent | false = false, reqPath = '/'): Promise<{ body: string; connection: string | undefined; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, agent, path: reqPath }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => resolve({ body, connection: res.headers.connection, socket: req.socket! }));
    });
    req.on('error', reject);
  });
}

function connectRefused(port: number): Promise<string> {
  return new Promise((resolve) => {
    net.connect(port, '127.0.0.1').on('connect', function (this: net.Socket) {
      this.destroy();
      resolve('connected');
    }).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

describe('shutdown()', () => {
  it('stops accepting, lets the in-flight request finish (Connection: close when tracked), then resolves', async () => {
    const h = await heldServer();
    trackConnections(h.server);
    const agent = new http.Agent({ keepAlive: true });
    const inflight = request(h.port, agent);
    await h.arrived;
    const done = shutdown(h.server, { timeout: 20_000 });
    expect(await connectRefused(h.port)).toBe('ECONNREFUSED');
    h.release('finished');
    const res = await inflight;
    expect(res.body).toBe('finished');
    expect(res.connection).toBe('close');
    expect(await done).toEqual({ forced: 0 });
    agent.destroy();
  });

  it('without tracking, the in-flight request still finishes and its keep-alive connection is closed after', async () => {
    const h = await heldServer();
    const agent = new http.Agent({ keepAlive: true });
    const inflight = request(h.port, agent);
    await h.arrived;
    const done = shutdown(h.server, { timeout: 20_000 });
    h.release('finished');
    const res = await inflight;
    expect(res.body).toBe('finished');
    const closed = new Promise((r) => res.socket.once('close', r));
    expect(await done).toEqual({ forced: 0 });
    await closed;
    agent.destroy();
  });

  it('closes an idle keep-alive connection instead of waiting for keepAliveTimeout', async () => {
    const h = await heldServer();
    h.release('once');
    const agent = new http.Agent({ keepAlive: true });
    const res = await request(h.port, agent);
    expect(res.connection).toBe('keep-alive');
    const closed = new Promise((r) => res.socket.once('close', r));
    // With a 20 s timeout and a 60 s keepAliveTimeout, forced: 0 means the idle one was closed.
    expect(await shutdown(h.server, { timeout: 20_000 })).toEqual({ forced: 0 });
    await closed;
    agent.destroy();
  });

  it('force-closes a request that outlives the timeout', async () => {
    const h = await heldServer();
    const inflight = request(h.port).catch((e: NodeJS.ErrnoException) => e.code);
    await h.arrived;
    expect(await shutdown(h.server, { timeout: 100 })).toEqual({ forced: 1 });
    expect(await inflight).toBe('ECONNRESET');
  });

  it('force-closes tracked connections of a plain net.Server', async () => {
    const server = net.createServer();
    trackConnections(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => server.once('connection', r));
    const closed = new Promise((r) => client.once('close', r));
    expect(await shutdown(server, { timeout: 100 })).toEqual({ forced: 1 });
    await closed;
  });

  it('sends STOPPING=1 first', async () => {
    const addr = abstractName();
    const recv = wrap(spawn('python3', [path.join(import.meta.dirname, 'fixtures/notify-recv.py'), addr], { stdio: ['pipe', 'pipe', 'pipe'] }));
    children.push(recv);
    await recv.json();
    process.env.NOTIFY_SOCKET = addr;
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await shutdown(server);
    expect((await recv.json()).text).toBe('STOPPING=1');
  });

  it('resolves for a server that is not listening', async () => {
    expect(await shutdown(http.createServer(), { timeout: 100 })).toEqual({ forced: 0 });
  });
});

describe('shutdownOnSignal() in a real child', () => {
  it('SIGTERM sends STOPPING=1, drains the in-flight request, then the process exits 0', async () => {
    const addr = abstractName();
    const recv = wrap(spawn('python3', [path.join(import.meta.dirname, 'fixtures/notify-recv.py'), addr], { stdio: ['pipe', 'pipe', 'pipe'] }));
    children.push(recv);
    await recv.json();
    const app = runApp([], 'signal', [], { NOTIFY_SOCKET: addr });
    children.push(app);
    const { result } = await app.json();
    const port = Number(result.address.split(':')[1]);
    const inflight = request(port, false, '/slow');
    expect(await app.json()).toEqual({ request: '/slow' });
    app.proc.kill('SIGTERM');
    expect((await inflight).body).toBe('slow done');
    expect(await app.exited).toBe(0);
    expect((await recv.json()).text).toBe('STOPPING=1');
  });

  it('a second signal exits at once with 128+signal', async () => {
    const app = runApp([], 'signal', ['--timeout=60000']);
    children.push(app);
    const { result } = await app.json();
    const port = Number(result.address.split(':')[1]);
    request(port, false, '/hang').catch(() => undefined);
    expect(await app.json()).toEqual({ request: '/hang' });
    app.proc.kill('SIGTERM');
    // Once the listener is closed the graceful stop is under way; the hanging request holds it.
    while ((await connectRefused(port)) !== 'ECONNREFUSED');
    app.proc.kill('SIGINT');
    expect(await app.exited).toBe(130);
  });

  it('never shutdown(2)s the adopted socket: the launcher\'s copy still listens afterwards', async () => {
    const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const port = (l.addr as { port: number }).port;
    // Keep our copy, as systemd keeps its own.
    const { runActivated, FIXTURE } = await import('./_helpers.js');
    const app = runActivated([l.fd], process.execPath, [FIXTURE, 'signal'], {}, { closeParentCopies: false });
    children.push(app);
    expect((await app.json()).result).toMatchObject({ activated: true, fd: 3 });
    expect((await request(port)).body).toBe('ok');
    app.proc.kill('SIGTERM');
    expect(await app.exited).toBe(0);
    expect(sys.getsockoptInt(l.fd, sys.SOL_SOCKET, sys.SO_ACCEPTCONN)).toBe(1);
    // A new connection is queued on our copy, as systemd's copy would queue it for the next start.
    expect(await connectRefused(port)).toBe('connected');
    sys.closeFd(l.fd);
  });
});
