// Connection migration end to end: real sockact, real generations, real keep-alive connections
// on loopback (bounded in count). Nothing is timed: only which connections the clients saw open
// and close, what was answered, by whom, and what each generation counted.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostPort, listeningOn, perTest, ROOT, run, SOCKACT, sockact, type Run } from '../_support/launcher.js';
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
  return r.exited.then(({ code }) => code);
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
    expect(await r.exited).toEqual({ code: 0, signal: null });
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
    expect(await r.exited).toEqual({ code: 0, signal: null });
    const c = counts(r.stderr);
    for (const g of [1, 2, 3]) expect(c.get(g)?.migrated).toBe(0);
  });
});

describe('connection migration of other connections (migration.register, opt-in)', () => {
  it('a raw TCP connection moves with its state: the same connection, the count goes on across generations', async () => {
    const name = `migrate-echo-${process.pid}`;
    const r = start(['-l', '127.0.0.1:0', '--name', name, '--', process.execPath, join(ROOT, 'test/app/fixtures/migrate-echo.mjs')]);
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
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });
});

describe('connection migration of a busy connection', () => {
  it('a request in flight is finished by the old generation, with keep-alive, and the connection moves once idle', async () => {
    const name = `migrate-busy-${process.pid}`;
    const r = start(['-l', '127.0.0.1:0', '--name', name, '--', process.execPath, APP]);
    const { port } = hostPort(await listeningOn(r));
    await r.waitFor('stderr', /ready, generation 1/);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    defer(() => agent.destroy());
    let opened = 0;
    let closed = 0;
    const create = agent.createConnection.bind(agent) as (...a: unknown[]) => net.Socket;
    (agent as unknown as { createConnection: (...a: unknown[]) => net.Socket }).createConnection = (...a: unknown[]) => {
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
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(counts(r.stderr).get(2)).toEqual({ accepted: 0, migrated: 1 });
  });
});
