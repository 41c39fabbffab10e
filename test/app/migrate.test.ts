// Connection migration end to end: real sockact, real generations, real keep-alive connections
// on loopback (bounded in count). Nothing is timed: only which connections the clients saw open
// and close, what was answered, by whom, and what each generation counted.
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  hostPort,
  listeningOn,
  perTest,
  ROOT,
  RUN_WAIT_TIMEOUT,
  run,
  SOCKACT,
  sockact,
  type Run,
} from '../_support/launcher.js';
import { getCounted } from '../_support/http-load.js';

const APP = join(ROOT, 'test/app/fixtures/migrate-app.mjs');
const { defer, dir } = perTest();

interface KeepAliveResult {
  ok: number;
  failed: string[];
  /** Connections the client opened, by local port, and how many of them closed during the run. */
  opened: number[];
  closed: number;
  /** Answers per body ("pid 12 generation 3"). */
  bodies: Map<string, number>;
}

/**
 * `conns` keep-alive connections (one http.Agent), each sending requests back to back until
 * `during` is done. Every connection the agent opens and every close is recorded.
 */
async function keepAlive(port: number, conns: number, during: () => Promise<void>): Promise<KeepAliveResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const r: KeepAliveResult = { ok: 0, failed: [], opened: [], closed: 0, bodies: new Map() };
  const create = agent.createConnection.bind(agent) as (...a: unknown[]) => net.Socket;
  (agent as unknown as { createConnection: (...a: unknown[]) => net.Socket }).createConnection = (...a: unknown[]) => {
    const s = create(...a);
    s.once('connect', () => r.opened.push(s.localPort!));
    s.once('close', () => r.closed++);
    return s;
  };
  let done = false;
  const one = () => getCounted(port, agent, r);
  const worker = async () => {
    while (!done) await one();
  };
  const workers = Promise.all(Array.from({ length: conns }, worker));
  try {
    await during();
  } finally {
    done = true;
  }
  await workers;
  const closed = r.closed;
  agent.destroy();
  r.closed = closed;
  return r;
}

function start(args: string[], env: Record<string, string> = {}): Run {
  const r = sockact(args, { env: { ...process.env, ...env } });
  defer(() => r.child.kill('SIGKILL'));
  return r;
}

function control(args: string[]): Promise<number | null> {
  const r = run(process.execPath, [SOCKACT, ...args]);
  return r.ended(`its start (sockact ${args.join(' ')})`, RUN_WAIT_TIMEOUT).then(({ code }) => code);
}

/** Each generation's "accepted A migrated M" line, by generation. */
function counts(stderr: string): Map<number, { accepted: number; migrated: number }> {
  const out = new Map<number, { accepted: number; migrated: number }>();
  for (const m of stderr.matchAll(/app: pid \d+ generation (\d+) accepted (\d+) migrated (\d+)/g)) {
    out.set(Number(m[1]), { accepted: Number(m[2]), migrated: Number(m[3]) });
  }
  return out;
}

/** Reload `n` times, with a few requests' worth of pause before each, so every generation serves. */
async function reloads(name: string, n: number, codes: (number | null)[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, 200));
    codes.push(await control(['reload', '--name', name]));
  }
  await new Promise((r) => setTimeout(r, 200));
}

describe('connection migration through sockact', () => {
  it('idle keep-alive connections move to each new generation: the clients never see a close, 0 failures', async () => {
    const name = `migrate-${process.pid}`;
    const r = start(['-l', '127.0.0.1:0', '--name', name, '--', process.execPath, APP]);
    const { port } = hostPort(await listeningOn(r));
    await r.waitFor('stderr', /ready, generation 1/);
    const codes: (number | null)[] = [];
    const result = await keepAlive(port, 8, () => reloads(name, 5, codes));
    expect(codes).toEqual([0, 0, 0, 0, 0]);
    expect(result.failed).toEqual([]);
    // The same 8 connections throughout: opened once each, never closed by the server.
    expect(result.opened).toHaveLength(8);
    expect(new Set(result.opened).size).toBe(8);
    expect(result.closed).toBe(0);
    // Every generation answered on them.
    const generations = new Set([...result.bodies.keys()].map((b) => b.replace(/^pid \d+ /, '')));
    expect(generations).toEqual(new Set([1, 2, 3, 4, 5, 6].map((g) => `generation ${g}`)));
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
    // The server side accepted 8 connections over the whole run; every new generation got all 8 from the one before.
    const c = counts(r.stderr);
    expect([...c.keys()].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...c.values()].reduce((n, x) => n + x.accepted, 0)).toBe(8);
    for (const g of [2, 3, 4, 5, 6]) expect(c.get(g)).toEqual({ accepted: 0, migrated: 8 });
  });

  it('a new generation that takes no connections: the old one drains as before, 0 failures', async () => {
    const name = `migrate-off-${process.pid}`;
    const off = join(dir(), 'off');
    writeFileSync(off, '');
    const r = start(['-l', '127.0.0.1:0', '--name', name, '--', process.execPath, APP], { NO_MIGRATE_IF: off });
    const { port } = hostPort(await listeningOn(r));
    await r.waitFor('stderr', /ready, generation 1/);
    const codes: (number | null)[] = [];
    const result = await keepAlive(port, 8, () => reloads(name, 2, codes));
    expect(codes).toEqual([0, 0]);
    expect(result.failed).toEqual([]);
    // Drained: the clients were told "Connection: close" and opened new connections.
    expect(result.opened.length).toBeGreaterThan(8);
    expect(result.closed).toBeGreaterThan(0);
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
    const c = counts(r.stderr);
    for (const g of [1, 2, 3]) expect(c.get(g)?.migrated).toBe(0);
  });
});

describe('connection migration of other connections (migration.register, opt-in)', () => {
  it(
    'a raw TCP connection moves with its state: ' + 'the same connection, the count goes on across generations',
    async () => {
      const name = `migrate-echo-${process.pid}`;
      const r = start([
        '-l',
        '127.0.0.1:0',
        '--name',
        name,
        '--',
        process.execPath,
        join(ROOT, 'test/app/fixtures/migrate-echo.mjs'),
      ]);
      const { port } = hostPort(await listeningOn(r));
      await r.waitFor('stderr', /ready, generation 1/);
      const { connect } = await import('node:net');
      const s = connect({ host: '127.0.0.1', port });
      let closed = false;
      s.on('close', () => (closed = true));
      s.setEncoding('utf8');
      let got = '';
      s.on('data', (d: string) => (got += d));
      const line = async (n: number) => {
        s.write('x\n');
        while (got.split('\n').length <= n) await new Promise((res) => setTimeout(res, 10));
      };
      let n = 0;
      const codes: (number | null)[] = [];
      for (let i = 0; i < 3; i++) {
        await line(++n);
        await line(++n);
        // Half a line when the connection moves: the new generation gets it with the state.
        s.write('y');
        codes.push(await control(['reload', '--name', name]));
        s.write('\n');
        n++;
      }
      await line(++n);
      const lines = got.trim().split('\n');
      expect(codes).toEqual([0, 0, 0]);
      expect(closed).toBe(false);
      // One count, never reset, and four processes answered on the one connection.
      const parsed = lines.map((l) => /^(pid \d+) count (\d+) line (\w*)$/.exec(l)!);
      expect(parsed.map((m) => Number(m[2]))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(new Set(parsed.map((m) => m[1])).size).toBe(4);
      // The half line went along with the state and was completed in the next generation.
      expect(parsed.map((m) => m[3])).toEqual(['x', 'x', 'y', 'x', 'x', 'y', 'x', 'x', 'y', 'x']);
      s.destroy();
      r.child.kill('SIGTERM');
      expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
    },
  );
});

describe('connection migration of a busy connection', () => {
  it(
    'a request in flight is finished by the old generation, ' + 'with keep-alive, and the connection moves once idle',
    async () => {
      const name = `migrate-busy-${process.pid}`;
      const r = start(['-l', '127.0.0.1:0', '--name', name, '--', process.execPath, APP]);
      const { port } = hostPort(await listeningOn(r));
      await r.waitFor('stderr', /ready, generation 1/);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      defer(() => agent.destroy());
      let opened = 0;
      let closed = 0;
      const create = agent.createConnection.bind(agent) as (...a: unknown[]) => net.Socket;
      (agent as unknown as { createConnection: (...a: unknown[]) => net.Socket }).createConnection = (
        ...a: unknown[]
      ) => {
        const s = create(...a);
        opened++;
        s.once('close', () => closed++);
        return s;
      };
      const get = (path: string) =>
        new Promise<{ body: string; connection: string | undefined }>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path, agent }, (res) => {
              let body = '';
              res.setEncoding('utf8').on('data', (d: string) => (body += d));
              res.on('end', () => resolve({ body: body.trim(), connection: res.headers.connection }));
            })
            .on('error', reject);
        });
      const first = await get('/');
      expect(first.body).toMatch(/generation 1$/);
      // In flight while the reload happens: generation 1 answers it after its SIGTERM.
      const [busy, code] = await Promise.all([get('/after-term'), control(['reload', '--name', name])]);
      expect(code).toBe(0);
      expect(busy).toEqual({ body: first.body, connection: 'keep-alive' });
      // Then the same connection reaches generation 2 (generation 1 may answer a few more first,
      // until its drain looks again: a pause between requests, so that it does within the bound).
      let next = busy;
      for (let i = 0; i < 500 && next.body === first.body; i++) {
        await new Promise((res) => setTimeout(res, 10));
        next = await get('/');
      }
      expect(next.body).toMatch(/generation 2$/);
      expect({ opened, closed }).toEqual({ opened: 1, closed: 0 });
      r.child.kill('SIGTERM');
      expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(counts(r.stderr).get(2)).toEqual({ accepted: 0, migrated: 1 });
    },
  );
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Complete HTTP/1.1 responses in `text` (each with a Content-Length, as the fixture sends them). */
function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return out;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    const length = Number(headers['content-length'] ?? 0);
    if (rest.length < end + 4 + length) return out;
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
}

/** One raw connection: the server gets exactly the bytes written, in the pieces written. */
function rawClient(port: number) {
  const s = net.connect({ host: '127.0.0.1', port });
  defer(() => s.destroy());
  let text = '';
  let ended: string | undefined;
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  s.setEncoding('latin1');
  s.on('data', (d: string) => {
    text += d;
    wake();
  });
  s.on('error', (e) => (ended = e.message));
  s.on('close', () => {
    ended ??= 'closed';
    wake();
  });
  return {
    write: (data: string) => s.write(data),
    /** The first `n` responses; an error naming what came when the connection ends or 10 s pass without them. */
    async responses(n: number): Promise<RawResponse[]> {
      const deadline = Date.now() + 10_000;
      while (parseResponses(text).length < n) {
        if (ended !== undefined || Date.now() > deadline) {
          throw new Error(
            `${parseResponses(text).length} of ${n} responses (${ended ?? 'timed out'}): ${JSON.stringify(text)}`,
          );
        }
        await new Promise<void>((res) => {
          waiters.push(res);
          setTimeout(res, 100);
        });
      }
      return parseResponses(text);
    },
    /** How the connection ended ('closed': a clean close; else the socket error); an error if still open after 10 s. */
    async closed(): Promise<string> {
      const deadline = Date.now() + 10_000;
      while (ended === undefined) {
        if (Date.now() > deadline) throw new Error(`still open after 10 s: ${JSON.stringify(text)}`);
        await new Promise<void>((res) => {
          waiters.push(res);
          setTimeout(res, 100);
        });
      }
      return ended;
    },
  };
}

const pause = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** sockact with the fixture, generation 1 ready; its port. */
async function startApp(
  name: string,
  env: Record<string, string> = {},
  app = APP,
  args: string[] = [],
): Promise<{ r: Run; port: number }> {
  const r = start(['-l', '127.0.0.1:0', '--name', name, ...args, '--', process.execPath, app], env);
  const { port } = hostPort(await listeningOn(r));
  await r.waitFor('stderr', /ready, generation 1/);
  return { r, port };
}

describe('idle means the HTTP parser holds nothing', () => {
  it('a pipelined request half received at the reload is answered once, then the connection moves', async () => {
    const name = `migrate-half-${process.pid}`;
    const { r, port } = await startApp(name);
    const c = rawClient(port);
    c.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n');
    expect((await c.responses(1))[0]!.headers['x-url']).toBe('/a');
    expect(await control(['reload', '--name', name])).toBe(0);
    await r.waitFor('stderr', /generation 1 draining/);
    // The drain looks at its connections every 100 ms: give it a few looks before /b is complete.
    await pause(300);
    c.write('\r\n');
    const [, b] = await c.responses(2);
    expect({ status: b!.status, url: b!.headers['x-url'], generation: b!.headers['x-generation'] }).toEqual({
      status: 200,
      url: '/b',
      generation: '1',
    });
    // Then it is idle and moves: the next request is generation 2's, on the same connection.
    let last: RawResponse | undefined;
    for (let i = 3; i < 50 && last?.headers['x-generation'] !== '2'; i++) {
      c.write(`GET /c${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      last = (await c.responses(i)).at(-1);
      await pause(20);
    }
    expect(last?.headers['x-generation']).toBe('2');
    // Generation 1 has drained and exited before sockact stops: sockact then ends with 0.
    await r.waitFor('stderr', /generation 1 accepted/);
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it(
    'a request answered before its body arrived: ' + 'the body is read where it was due, the next request is served',
    async () => {
      const name = `migrate-body-${process.pid}`;
      const { r, port } = await startApp(name);
      const clients = [rawClient(port), rawClient(port), rawClient(port)];
      for (const c of clients) c.write('POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n');
      for (const c of clients) expect((await c.responses(1))[0]!.status).toBe(200);
      expect(await control(['reload', '--name', name])).toBe(0);
      await r.waitFor('stderr', /generation 1 draining/);
      await pause(300);
      for (const c of clients) c.write('0123456789abcdef');
      for (const c of clients) c.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
      for (const c of clients) {
        const [, next] = await c.responses(2);
        expect({ status: next!.status, url: next!.headers['x-url'] }).toEqual({ status: 200, url: '/next' });
      }
      // Generation 1 has drained and exited before sockact stops: sockact then ends with 0.
      await r.waitFor('stderr', /generation 1 accepted/);
      r.child.kill('SIGTERM');
      expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
    },
  );
});

describe('one owner at a time', () => {
  it(
    'the receiving generation is SIGKILLed before it answers a batch: ' +
      'the old one takes it back and serves what arrived',
    async () => {
      const name = `migrate-kill-${process.pid}`;
      const block = join(dir(), 'block');
      // Restarted when killed (not blocked then): sockact keeps running.
      const { r, port } = await startApp(name, { BLOCK_IF: block, BLOCK_MS: '30000' }, APP, [
        '--restart',
        'on-failure',
      ]);
      const clients = Array.from({ length: 20 }, () => rawClient(port));
      for (const c of clients) c.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
      for (const c of clients) expect((await c.responses(1))[0]!.headers['x-generation']).toBe('1');
      writeFileSync(block, '');
      expect(await control(['reload', '--name', name])).toBe(0);
      const pid2 = Number((await r.waitFor('stderr', /app: pid (\d+) generation 2 up/))[1]);
      await r.waitFor('stderr', /generation 1 draining/);
      // Generation 1 sends its batch at once; generation 2 is blocked and cannot take it.
      await pause(300);
      // Half the clients send while generation 2 holds the batch, half just after it died: the drain
      // takes them back and counts their quiet time from then on, so both halves are served.
      for (const c of clients.slice(0, 10)) c.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
      rmSync(block);
      process.kill(pid2, 'SIGKILL');
      await r.waitFor('stderr', /generation 2\) killed by SIGKILL/);
      await pause(200);
      for (const c of clients.slice(10)) c.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
      // All at once: one client that is never answered fails within its 10 s, saying what it got.
      for (const [, after] of await Promise.all(clients.map((c) => c.responses(2)))) {
        expect({
          status: after!.status,
          url: after!.headers['x-url'],
          generation: after!.headers['x-generation'],
        }).toEqual({
          status: 200,
          url: '/after',
          generation: '1',
        });
      }
      r.child.kill('SIGTERM');
      await r.ended('SIGTERM');
    },
  );

  it(
    'the receiving generation answers after the sender gave up: ' + 'it never adopts, one process answers throughout',
    async () => {
      const name = `migrate-slow-${process.pid}`;
      const block = join(dir(), 'block');
      const env = { BLOCK_IF: block, BLOCK_MS: '6500', MIGRATE_TIMEOUT: '300', DRAIN_TIMEOUT: '15000' };
      const { r, port } = await startApp(name, env, join(ROOT, 'test/app/fixtures/migrate-echo.mjs'));
      const s = net.connect({ host: '127.0.0.1', port });
      defer(() => s.destroy());
      s.setEncoding('utf8');
      let got = '';
      s.on('data', (d: string) => (got += d));
      s.on('error', () => {});
      let sent = 0;
      const line = async () => {
        s.write(`${++sent}\n`);
        for (let i = 0; i < 500 && got.split('\n').length <= sent; i++) await pause(10);
      };
      for (let i = 0; i < 5; i++) await line();
      writeFileSync(block, '');
      expect(await control(['reload', '--name', name])).toBe(0);
      // Lines go on while generation 2 is blocked, and after it wakes up and reads the old batch.
      const unblocked = r.waitFor('stderr', /unblocked/, 20_000);
      let woke = false;
      void unblocked.then(() => (woke = true));
      while (!woke) await line();
      for (let i = 0; i < 10; i++) await line();
      const replies = got
        .trim()
        .split('\n')
        .map((l) => /^pid (\d+) count (\d+)/.exec(l)!);
      // The count never goes back, and once a reply came from a pid no earlier pid answers again.
      expect(replies.map((m) => Number(m[2]))).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
      const pids = replies.map((m) => m[1]);
      const order = [...new Set(pids)];
      expect(pids).toEqual([...pids].sort((a, b) => order.indexOf(a!) - order.indexOf(b!)));
      s.destroy();
      r.child.kill('SIGTERM');
      await r.ended('SIGTERM');
    },
  );
});

describe('connections move only to a ready generation', () => {
  it(
    'a reload that fails (never ready, exits 1) gets none: ' + 'the connection goes to the generation serving',
    async () => {
      const name = `migrate-target-${process.pid}`;
      const noReady = join(dir(), 'no-ready');
      const hold = join(dir(), 'hold');
      const { r, port } = await startApp(name, { NO_READY_IF: noReady });
      const c = rawClient(port);
      c.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
      await c.responses(1);
      // Busy in generation 1 while generation 2 takes over and generation 3 starts and fails.
      c.write(`GET /wait?f=${encodeURIComponent(hold)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(await control(['reload', '--name', name])).toBe(0);
      await r.waitFor('stderr', /generation 1 draining/);
      writeFileSync(noReady, '');
      const failed = control(['reload', '--name', name]);
      await r.waitFor('stderr', /generation 3 up, never ready/);
      writeFileSync(hold, '');
      expect((await c.responses(2))[1]!.headers['x-generation']).toBe('1');
      const seen: string[] = [];
      for (let i = 3; i < 50 && seen.at(-1) !== '2' && seen.at(-1) !== '3'; i++) {
        c.write(`GET /n${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
        seen.push((await c.responses(i)).at(-1)!.headers['x-generation']!);
        await pause(20);
      }
      expect(seen.at(-1)).toBe('2');
      writeFileSync(`${noReady}.exit`, '');
      expect(await failed).not.toBe(0);
      const n = seen.length + 2;
      c.write('GET /last HTTP/1.1\r\nHost: x\r\n\r\n');
      expect((await c.responses(n + 1)).at(-1)!.headers['x-generation']).toBe('2');
      // Generation 1 has drained and exited before sockact stops: sockact then ends with 0.
      await r.waitFor('stderr', /generation 1 accepted/);
      r.child.kill('SIGTERM');
      expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
    },
  );
});

describe('a batch the new generation does not take: the old one drains as a plain drain', () => {
  // Both ways a batch comes back: the receiver has no receiving socket (its connect fails at once),
  // or it is blocked and never answers within migrateTimeout (the sender gives up and takes it back).
  const receivers = [
    { how: 'has no receiving socket', block: false },
    { how: 'does not answer within migrateTimeout', block: true },
  ];
  for (const { how, block } of receivers) {
    it(`the receiver ${how}: in-flight and idle connections are served and closed by the old generation`, async () => {
      const name = `migrate-back-${block ? 'block' : 'none'}-${process.pid}`;
      const flag = join(dir(), 'flag');
      const hold = join(dir(), 'hold');
      const url = `/wait?f=${encodeURIComponent(hold)}`;
      // The drain timeout and Node's keep-alive timeout are longer than the test: a connection the
      // server closes is closed by the drain, and a drain that ends, ends by itself (nothing forced).
      const long = { DRAIN_TIMEOUT: '60000', KEEP_ALIVE_MS: '60000' };
      const env: Record<string, string> = block
        ? { BLOCK_IF: flag, BLOCK_MS: '30000', MIGRATE_TIMEOUT: '300', ...long }
        : { NO_MIGRATE_IF: flag, ...long };
      const { r, port } = await startApp(name, env, APP, ['--restart', 'on-failure']);
      // a: idle, sends a request once the drain has begun; b: a request in flight across the reload;
      // c: idle, and stays quiet.
      const [a, b, c] = [rawClient(port), rawClient(port), rawClient(port)];
      for (const x of [a, b, c]) x.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
      for (const x of [a, b, c]) expect((await x.responses(1))[0]!.headers.connection).toBe('keep-alive');
      b.write(`GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`);
      writeFileSync(flag, '');
      expect(await control(['reload', '--name', name])).toBe(0);
      const pid2 = Number((await r.waitFor('stderr', /app: pid (\d+) generation 2 up/))[1]);
      defer(() => {
        try {
          process.kill(pid2, 'SIGKILL');
        } catch {
          // gone already
        }
      });
      rmSync(flag);
      // Generation 1 offers a and c (idle) as soon as it drains; the batch comes back.
      await r.waitFor('stderr', /generation 1 draining/);
      a.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
      const [, answer] = await a.responses(2);
      const seen = (x: RawResponse) => ({
        status: x.status,
        url: x.headers['x-url'],
        generation: x.headers['x-generation'],
        connection: x.headers.connection,
      });
      // Answered by generation 1 as a plain drain answers: "Connection: close", then closed.
      expect(seen(answer!)).toEqual({ status: 200, url: '/a', generation: '1', connection: 'close' });
      expect(await a.closed()).toBe('closed');
      // The request in flight is finished by generation 1, also with "Connection: close".
      writeFileSync(hold, '');
      const [, waited] = await b.responses(2);
      expect(seen(waited!)).toEqual({ status: 200, url, generation: '1', connection: 'close' });
      expect(await b.closed()).toBe('closed');
      // Then the drain ends on its own, long before its timeout: generation 1 closed the quiet one
      // (idle for idleTimeout) and exits, having moved nothing.
      const [, accepted, migrated] = (await r.waitFor('stderr', /generation 1 accepted (\d+) migrated (\d+)/))!;
      expect({ accepted, migrated }).toEqual({ accepted: '3', migrated: '0' });
      // Its client sees a clean close with nothing left unanswered, even while a blocked receiver
      // still holds a copy of the quiet one's fd in the batch it never read (SCM_RIGHTS, unix(7)):
      // generation 1 shuts the connection down, not only its own fd.
      expect(await c.closed()).toBe('closed');
      // A blocked generation 2 would take BLOCK_MS to stop.
      if (block) process.kill(pid2, 'SIGKILL');
      expect(await c.responses(1)).toHaveLength(1);
      r.child.kill('SIGTERM');
      await r.ended('SIGTERM');
    });
  }
});
