// Graceful stop with real HTTP clients: drain in-flight requests, close idle keep-alive
// connections, force-close after the timeout, STOPPING=1, and the SIGTERM wiring in a child.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { shutdown, trackConnections } from '../../src/app/shutdown.js';
import * as sys from '../../src/sys/index.js';
import type { Child } from '../_support/child.js';
import { httpGet } from '../_support/http.js';
import { inProcessReceiver, notifyReceivers } from '../_support/notify.js';
import { waitUntil } from '../_support/wait.js';
import { FIXTURE, listener, runActivated, runApp } from './_helpers.js';

const receiver = notifyReceivers();

const children: Child[] = [];
afterEach(() => {
  delete process.env.NOTIFY_SOCKET;
  for (const c of children.splice(0)) c.proc.kill();
});

/** A server whose requests wait until the test releases them. */
async function heldServer(): Promise<{
  server: http.Server;
  port: number;
  arrived: Promise<void>;
  release: (body: string) => void;
}> {
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

async function request(
  port: number,
  agent: http.Agent | false = false,
  reqPath = '/',
): Promise<{ body: string; connection: string | undefined; socket: net.Socket }> {
  const res = await httpGet({ host: '127.0.0.1', port }, { agent, path: reqPath, timeout: 60_000 });
  return { body: res.body, connection: res.headers.connection, socket: res.socket! };
}

function connectRefused(port: number): Promise<string> {
  return new Promise((resolve) => {
    net
      .connect(port, '127.0.0.1')
      .on('connect', function (this: net.Socket) {
        this.destroy();
        resolve('connected');
      })
      .on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
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

  it(
    'without tracking, the in-flight request still ' + 'finishes and its keep-alive connection is closed after',
    async () => {
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
    },
  );

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

  it(
    'keeps a quiet keep-alive connection open for idleTimeout: ' +
      'a request sent on it meanwhile gets Connection: close',
    async () => {
      const h = await heldServer();
      trackConnections(h.server);
      h.release('answer');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const first = await request(h.port, agent);
      expect(first.connection).toBe('keep-alive');
      const done = shutdown(h.server, { timeout: 20_000, idleTimeout: 10_000 });
      // A client that paused briefly (far less than idleTimeout) reuses the connection.
      await new Promise((r) => setTimeout(r, 300));
      const second = await request(h.port, agent);
      expect(second.socket).toBe(first.socket);
      expect(second).toMatchObject({ body: 'answer', connection: 'close' });
      expect(await done).toEqual({ forced: 0 });
      agent.destroy();
    },
  );

  it('closes a tracked keep-alive connection once it has stayed quiet for idleTimeout', async () => {
    const h = await heldServer();
    trackConnections(h.server);
    h.release('once');
    const agent = new http.Agent({ keepAlive: true });
    const res = await request(h.port, agent);
    const closed = new Promise((r) => res.socket.once('close', r));
    // forced: 0 with a 20 s timeout and a 60 s keepAliveTimeout: the drain closed it.
    expect(await shutdown(h.server, { timeout: 20_000, idleTimeout: 200 })).toEqual({ forced: 0 });
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

  it("sends STOPPING=1 first: it is in the receiver's queue before the server stops accepting", async () => {
    const recv = inProcessReceiver();
    process.env.NOTIFY_SOCKET = recv.addr;
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // What the receiver holds at the moment shutdown() closes the listener (recvmsg does not block).
    let atClose: string | undefined = 'close() not called';
    const close = server.close;
    server.close = function (this: http.Server, cb?: (err?: Error) => void) {
      atClose = recv.take().join(' | ');
      return close.call(this, cb);
    } as typeof server.close;
    await shutdown(server);
    recv.close();
    expect(atClose).toBe('STOPPING=1');
  });

  it('resolves for a server that is not listening', async () => {
    expect(await shutdown(http.createServer(), { timeout: 100 })).toEqual({ forced: 0 });
  });
});

describe('shutdownOnSignal() in a real child', () => {
  it('SIGTERM sends STOPPING=1, drains the in-flight request, then the process exits 0', async () => {
    const { child: recv, addr } = await receiver();
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

  it('stops accepting at once: a connection made while it drains waits in the queue for the next process', async () => {
    const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const port = (l.addr as { port: number }).port;
    const { child: recv, addr } = await receiver();
    const app = runActivated(
      [l.fd],
      process.execPath,
      [FIXTURE, 'signal', '--timeout=60000'],
      { NOTIFY_SOCKET: addr },
      { closeParentCopies: false },
    );
    children.push(app);
    expect((await app.json()).result).toMatchObject({ activated: true, fd: 3 });
    request(port, false, '/hang').catch(() => undefined);
    expect(await app.json()).toEqual({ request: '/hang' });
    app.proc.kill('SIGTERM');
    // STOPPING=1 and closing the listener happen in the same turn of the app's event loop: from
    // now on the app accepts nothing, while the hanging request keeps it draining.
    expect((await recv.json()).text).toBe('STOPPING=1');
    const client = net.connect(port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    client.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(sys.pollSync([l.fd], 10_000)).toHaveLength(1);
    const queued = sys.accept(l.fd);
    expect(queued.peer).toMatchObject({ port: client.localPort });
    expect(app.proc.exitCode).toBe(null);
    sys.closeFd(queued.fd);
    client.destroy();
    sys.closeFd(l.fd);
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
    await waitUntil(
      `the app closes its listener on port ${port} after SIGTERM`,
      async () => (await connectRefused(port)) === 'ECONNREFUSED',
    );
    app.proc.kill('SIGINT');
    expect(await app.exited).toBe(130);
  });

  it("never shutdown(2)s the adopted socket: the launcher's copy still listens afterwards", async () => {
    const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const port = (l.addr as { port: number }).port;
    // Keep our copy, as systemd keeps its own.
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

interface Answer {
  pid: string;
  draining: boolean;
  connection: string;
}

/**
 * Keep-alive load that retries nothing, as wrk: `conns` connections, each sending its next request
 * the moment the previous answer is complete (the moment a server that closes "idle" connections
 * races with it), reconnecting only after "Connection: close". Every connection that ends, resets
 * or fails with a request outstanding is a lost request.
 */
function keepAliveLoad(port: number, conns: number) {
  const answers: Answer[] = [];
  const failures: string[] = [];
  let stopping = false;
  const loops: Promise<void>[] = [];
  const oneConnection = (): Promise<'again' | 'stop'> =>
    new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let buf = Buffer.alloc(0);
      let outstanding = false;
      let closing = false;
      const send = () => {
        outstanding = true;
        socket.write('GET / HTTP/1.1\r\nHost: drain\r\n\r\n');
      };
      socket.on('connect', send);
      socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
          if (buf.length < end + 4 + length) return;
          buf = buf.subarray(end + 4 + length);
          outstanding = false;
          const header = (name: string) => new RegExp(`\\r\\n${name}: *([^\\r]*)`, 'i').exec(head)?.[1];
          if (!head.startsWith('HTTP/1.1 200')) failures.push(`answer: ${head.split('\r\n')[0]}`);
          const a = {
            pid: header('x-pid') ?? '?',
            draining: header('x-draining') === '1',
            connection: header('connection') ?? '',
          };
          answers.push(a);
          if (a.connection.toLowerCase() === 'close') closing = true;
          else if (stopping) socket.end();
          else send();
        }
      });
      socket.on('error', (e: NodeJS.ErrnoException) =>
        failures.push(`${outstanding ? 'request lost' : 'connection failed'}: ${e.code}`),
      );
      socket.on('close', () => {
        if (outstanding) failures.push('request lost: the server closed the connection with a request outstanding');
        resolve(closing && !stopping ? 'again' : 'stop');
      });
    });
  for (let i = 0; i < conns; i++) {
    loops.push(
      (async () => {
        while ((await oneConnection()) === 'again');
      })(),
    );
  }
  return {
    answers,
    failures,
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

describe('a reload under keep-alive load (the launcher holds the socket, generations take turns)', () => {
  it(
    'loses no request: ' + 'answers written while draining carry Connection: close, quiet connections are closed later',
    async () => {
      const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 }, 'stream', 1024);
      const port = (l.addr as { port: number }).port;
      const { child: recv, addr } = await receiver();
      // One generation: the socket at fd 3 (our copy kept, as a supervisor keeps it), READY=1 awaited.
      const generation = async () => {
        const app = runActivated(
          [l.fd],
          process.execPath,
          [FIXTURE, 'drain'],
          { NOTIFY_SOCKET: addr },
          { closeParentCopies: false },
        );
        children.push(app);
        // The stopped generations' STOPPING=1 comes in between.
        let msg = await recv.json();
        while (msg.text === 'STOPPING=1') msg = await recv.json();
        expect(msg.text).toBe(`READY=1\nSTATUS=pid ${app.proc.pid}`);
        return app;
      };
      let current = await generation();
      const load = keepAliveLoad(port, 8);
      // The load reached a generation: it answered once (or a failure ends the wait, to be reported below).
      const reached = (app: Child) =>
        waitUntil(
          `an answer from generation pid ${app.proc.pid}`,
          () => load.failures.length > 0 || load.answers.some((a) => a.pid === String(app.proc.pid)),
          {
            seen: () =>
              `${load.answers.length} answers from pids ${[...new Set(load.answers.map((a) => a.pid))].join(', ')}`,
          },
        );
      const pids = [String(current.proc.pid)];
      const exits: Promise<number | null>[] = [];
      try {
        for (let i = 0; i < 5; i++) {
          // Let the load reach this generation, then start the next one and stop this one.
          await reached(current);
          const next = await generation();
          current.proc.kill('SIGTERM');
          exits.push(current.exited);
          current = next;
          pids.push(String(current.proc.pid));
        }
        await reached(current);
      } finally {
        await load.stop();
        sys.closeFd(l.fd);
      }
      expect(load.failures).toEqual([]);
      expect(await Promise.all(exits)).toEqual([0, 0, 0, 0, 0]);
      // Every generation served, and each stopped one answered at least once while draining.
      expect(new Set(load.answers.map((a) => a.pid))).toEqual(new Set(pids));
      const draining = load.answers.filter((a) => a.draining);
      expect(new Set(draining.map((a) => a.pid)).size).toBe(5);
      expect(draining.filter((a) => a.connection.toLowerCase() !== 'close')).toEqual([]);
    },
  );
});
