// Issue 9: a restart of sockact itself with and without systemd's fd store (a stand-in for the
// store: test/launch/fixtures/fdstore-manager.py), under a steady load of 8 sequential clients,
// and how long `sockact --daemon` takes to return (= the daemon serves). Prints JSON.
// `node bench/fdstore-daemon.js` (after `npm run build`); not part of `npm run bench` yet.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, root, sockactBin } from './lib.js';

const APP = join(root, 'test/supervise/fixtures/app.mjs');
const MANAGER = join(root, 'test/launch/fixtures/fdstore-manager.py');

/** `restarts` stop+start cycles of sockact under load; the store on or off. */
async function restarts(store, port, rounds = 5) {
  const m = spawn('/usr/bin/python3', [MANAGER], { stdio: ['pipe', 'pipe', 'ignore'] });
  let buf = '';
  let seen = 0;
  const waiters = [];
  m.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d;
    for (const w of waiters.splice(0)) w();
  });
  const next = async (kind) => {
    for (;;) {
      const lines = buf.split('\n').filter(Boolean);
      for (let i = seen; i < lines.length; i++) {
        const e = JSON.parse(lines[i]);
        if (e.event === kind) {
          seen = i + 1;
          return e;
        }
      }
      await new Promise((r) => waiters.push(r));
    }
  };
  const argv = [
    process.execPath,
    sockactBin,
    '-q',
    ...(store ? ['--fd-store'] : []),
    '-l',
    `127.0.0.1:${port},name=web`,
    '--',
    process.execPath,
    APP,
  ];
  const send = (c) => m.stdin.write(`${JSON.stringify(c)}\n`);
  send({ cmd: 'start', argv });
  await next('ready');
  let ok = 0;
  let running = true;
  const failed = [];
  const lat = [];
  const client = async () => {
    while (running) {
      const t = performance.now();
      await new Promise((res) => {
        http
          .get({ host: '127.0.0.1', port, agent: false }, (r) => {
            r.resume();
            r.on('end', () => {
              ok++;
              res();
            });
          })
          .on('error', (e) => {
            failed.push(e.code);
            res();
          });
      });
      lat.push(performance.now() - t);
    }
  };
  const clients = Array.from({ length: 8 }, client);
  const downToReady = [];
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => setTimeout(r, 500));
    send({ cmd: 'stop' });
    await next('stopped');
    const t = performance.now();
    send({ cmd: 'start', argv });
    await next('ready');
    downToReady.push(Math.round(performance.now() - t));
  }
  await new Promise((r) => setTimeout(r, 500));
  running = false;
  await Promise.all(clients);
  m.stdin.end();
  return {
    store,
    restarts: rounds,
    ok,
    failed: failed.length,
    failures: [...new Set(failed)],
    maxLatencyMs: Math.round(Math.max(...lat)),
    downToReadyMs: downToReady,
  };
}

/** Wall time of `sockact --daemon ...` until it returns (the daemon serves), and a bare node start for scale. */
function daemonStart(rounds = 5) {
  const walls = [];
  const bare = [];
  for (let i = 0; i < rounds; i++) {
    const pidFile = join(tmpdir(), `sockact-bench-${process.pid}-${i}.pid`);
    let t = performance.now();
    const r = spawnSync(process.execPath, [
      sockactBin,
      '-q',
      '--daemon',
      '--pid-file',
      pidFile,
      '-l',
      '127.0.0.1:0',
      '--',
      process.execPath,
      APP,
    ]);
    walls.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`daemon start failed: ${r.stderr}`);
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
    t = performance.now();
    spawnSync(process.execPath, [sockactBin, '--version']);
    bare.push(performance.now() - t);
  }
  return { daemonStartToServingMs: Math.round(median(walls)), sockactVersionMs: Math.round(median(bare)), rounds };
}

const out = {
  loadavg: loadavg().map((l) => Math.round(l * 10) / 10),
  withStore: await restarts(true, 19555),
  withoutStore: await restarts(false, 19556),
  daemon: daemonStart(),
};
console.log(JSON.stringify(out, null, 2));
