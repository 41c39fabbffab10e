// Issue 9, connection migration: keep-alive load over 32 connections through sockact while it
// reloads 10 times. Measured from both ends: what the clients saw (wrk's socket errors and
// non-2xx; a Node client that records every connect and every close) and what the server side
// saw (each generation's accepted vs migrated connections, from the app's own count). Loopback
// only; every run has a fixed number of reloads. `node bench/migrate.js` runs it alone.
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, root, sockactBin } from './lib.js';

// The app of the migration tests: it prints "accepted A migrated M" for its generation at exit.
const app = join(root, 'test', 'app', 'fixtures', 'migrate-app.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(fn, what, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Reload `n` times, `gapMs` apart; resolves with the exit codes of `sockact reload`. */
async function reloadsThenStop(name, n, gapMs) {
  const codes = [];
  for (let i = 0; i < n; i++) {
    await sleep(gapMs);
    process.stderr.write(`bench: reload ${i + 1}/${n}\n`);
    codes.push(
      await new Promise((resolve) => {
        const c = spawn(process.execPath, [sockactBin, 'reload', '--name', name], { env: cleanEnv(), stdio: 'ignore' });
        c.on('exit', (code) => resolve(code));
      }),
    );
  }
  await sleep(gapMs);
  return codes;
}

function counts(stderr) {
  const gens = [...stderr.matchAll(/app: pid \d+ generation (\d+) accepted (\d+) migrated (\d+)/g)].map((m) => ({
    generation: Number(m[1]),
    accepted: Number(m[2]),
    migrated: Number(m[3]),
  }));
  return {
    perGeneration: gens.map((g) => `${g.generation}: ${g.accepted}+${g.migrated}`).join(', '),
    generations: gens.length,
    accepted: gens.reduce((n, g) => n + g.accepted, 0),
    migrated: gens.reduce((n, g) => n + g.migrated, 0),
  };
}

/** One run: the load (wrk or the Node client) against sockact during `reloads` reloads. */
async function once(kind, conns, reloads) {
  const name = `bench-migrate-${kind}-${process.pid}`;
  const s = spawn(process.execPath, [sockactBin, '-l', '127.0.0.1:0', '--name', name, '--', process.execPath, app], {
    env: cleanEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  s.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const port = Number((await until(() => /listening on 127\.0\.0\.1:(\d+)/.exec(err), 'the listening line'))[1]);
  await until(() => /ready, generation 1/.test(err), 'generation 1');
  let client;
  if (kind === 'wrk') {
    // Long enough for every reload on a busy machine; stopped with SIGINT (wrk then prints its
    // summary) once the last reload is done, so the load spans all of them.
    const seconds = 30 * (reloads + 1);
    const wrk = spawn('wrk', ['-t1', `-c${conns}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    wrk.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    // Listened for from the start: on a slow machine wrk may be done before the last reload.
    const wrkDone = new Promise((r) => wrk.on('exit', r));
    const codes = await reloadsThenStop(name, reloads, 1000);
    wrk.kill('SIGINT');
    await wrkDone;
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
    const socketErrors = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none';
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    // wrk connects once before the load to check the address (1 more accept than -c, with or
    // without reloads), so the server side counts conns + 1 accepted.
    client = { reloadCodes: codes, requests, socketErrors, non2xx };
  } else {
    const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
    let opened = 0;
    let closed = 0;
    const create = agent.createConnection.bind(agent);
    agent.createConnection = (...a) => {
      const sock = create(...a);
      sock.once('connect', () => opened++);
      sock.once('close', () => closed++);
      return sock;
    };
    let done = false;
    let ok = 0;
    let failed = 0;
    const one = () =>
      new Promise((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) ok++;
            else failed++;
            resolve();
          });
          res.on('error', () => {
            failed++;
            resolve();
          });
        });
        req.on('error', () => {
          failed++;
          resolve();
        });
      });
    const workers = Promise.all(
      Array.from({ length: conns }, async () => {
        while (!done) await one();
      }),
    );
    const codes = await reloadsThenStop(name, reloads, 1000);
    done = true;
    await workers;
    const closedDuringRun = closed;
    agent.destroy();
    client = {
      reloadCodes: codes,
      requests: ok + failed,
      failed,
      connectionsOpened: opened,
      connectionsClosed: closedDuringRun,
    };
  }
  s.kill('SIGTERM');
  await new Promise((r) => s.on('exit', r));
  // sockact's own line for each reload that failed, so that a failed one says why.
  return { client, server: counts(err), reloadFailures: err.match(/reload failed: .*/g) ?? [] };
}

/** A raw keep-alive connection: how many complete responses of status 200 it got, and whether it ended. */
function rawConn(port) {
  const s = net.connect({ host: '127.0.0.1', port });
  const c = { s, text: '', ended: false, ok: () => (c.text.match(/HTTP\/1\.1 200 /g) ?? []).length };
  s.setEncoding('latin1').on('data', (d) => (c.text += d));
  s.on('error', () => {});
  s.on('close', () => (c.ended = true));
  return c;
}

/**
 * The receiving generation killed mid-batch: `conns` idle keep-alive connections in generation 1;
 * generation 2 becomes ready and then blocks, so the batch generation 1 sends it is never
 * answered; half the clients send a request while it hangs, generation 2 is SIGKILLed, the other
 * half send 200 ms later. Generation 1 must take the batch back and answer every one (0 failed).
 */
export async function killedMidBatch(conns) {
  const name = `bench-migrate-kill-${process.pid}`;
  const block = join(tmpdir(), `bench-migrate-block-${process.pid}`);
  rmSync(block, { force: true });
  const env = { ...cleanEnv(), BLOCK_IF: block, BLOCK_MS: '60000' };
  const args = [
    sockactBin,
    '-l',
    '127.0.0.1:0',
    '--name',
    name,
    '--restart',
    'on-failure',
    '--',
    process.execPath,
    app,
  ];
  const s = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  s.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  try {
    const port = Number((await until(() => /listening on 127\.0\.0\.1:(\d+)/.exec(err), 'the listening line'))[1]);
    await until(() => /ready, generation 1/.test(err), 'generation 1');
    const clients = Array.from({ length: conns }, () => rawConn(port));
    for (const c of clients) c.s.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => clients.every((c) => c.ok() === 1 || c.ended), 'the first answers');
    writeFileSync(block, '');
    spawn(process.execPath, [sockactBin, 'reload', '--name', name], { env: cleanEnv(), stdio: 'ignore' });
    const pid2 = Number((await until(() => /app: pid (\d+) generation 2 up/.exec(err), 'generation 2'))[1]);
    await until(() => /generation 1 draining/.test(err), 'generation 1 draining');
    await sleep(300);
    const half = Math.floor(conns / 2);
    for (const c of clients.slice(0, half)) c.s.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    rmSync(block, { force: true });
    const killedAt = performance.now();
    process.kill(pid2, 'SIGKILL');
    await sleep(200);
    for (const c of clients.slice(half)) c.s.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => clients.every((c) => c.ok() === 2 || c.ended), 'the answers after the kill', 15_000).catch(
      () => {},
    );
    const answeredInMs = Math.round(performance.now() - killedAt);
    const answered = clients.filter((c) => c.ok() === 2).length;
    for (const c of clients) c.s.destroy();
    return { conns, answered, failed: conns - answered, answeredInMs };
  } finally {
    rmSync(block, { force: true });
    s.kill('SIGTERM');
    await new Promise((r) => s.on('exit', r));
  }
}

export async function run({ conns = 32, reloads = 10, killConns = 200 } = {}) {
  const out = { conns, reloads };
  out.killedMidBatch = await killedMidBatch(killConns);
  out.node = await once('node', conns, reloads);
  if (spawnSync('wrk', ['--version']).error === undefined) out.wrk = await once('wrk', conns, reloads);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await run(), null, 2));
