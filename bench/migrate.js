// Issue 9, connection migration: keep-alive load over 32 connections through sockact while it
// reloads 10 times. Measured from both ends: what the clients saw (wrk's socket errors and
// non-2xx; a Node client that records every connect and every close) and what the server side
// saw (each generation's accepted vs migrated connections, from the app's own count). Loopback
// only; every run has a fixed number of reloads. `node bench/migrate.js` runs it alone.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
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
    const seconds = Math.ceil((reloads + 1) * 1.2) + 2;
    const wrk = spawn('wrk', ['-t1', `-c${conns}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    wrk.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    const codes = await reloadsThenStop(name, reloads, 1000);
    await new Promise((r) => wrk.on('exit', r));
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
    client = { reloadCodes: codes, requests: ok + failed, failed, connectionsOpened: opened, connectionsClosed: closedDuringRun };
  }
  s.kill('SIGTERM');
  await new Promise((r) => s.on('exit', r));
  return { client, server: counts(err) };
}

export async function run({ conns = 32, reloads = 10 } = {}) {
  const out = { conns, reloads };
  out.node = await once('node', conns, reloads);
  if (spawnSync('wrk', ['--version']).error === undefined) out.wrk = await once('wrk', conns, reloads);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await run(), null, 2));
