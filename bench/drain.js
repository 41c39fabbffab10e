// Issue 6 bench: the app side's drain (shutdownOnSignal) loses nothing while a new process takes
// over the same listening socket. This file holds the socket itself (bound through the seam, as
// a supervisor would), starts examples/hello with it at fd 3, and under wrk load starts a new
// generation every second, waits for its READY=1 on a notify socket of its own, then SIGTERMs
// the old one. wrk retries nothing: every connect, read or write error, timeout or non-2xx
// answer is a request the drain lost. Keep-alive and Connection: close. stopMs: SIGTERM to the
// old generation's exit.
//   node bench/drain.js [seconds]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cleanEnv, dist, helloServer, median, TRAMPOLINE } from './lib.js';

const sys = await import(pathToFileURL(dist('sys/index.js')).href);

/** Start one generation of the app on `fd` and resolve once it sent READY=1 to its own notify socket. */
async function startGeneration(fd, dir, n, app) {
  const notifyPath = join(dir, `notify-${n}`);
  const ns = sys.socket('unix', 'dgram');
  try {
    sys.bind(ns, { family: 'unix', path: notifyPath });
    const child = spawn('sh', [...TRAMPOLINE, process.execPath, app], {
      env: cleanEnv({ LISTEN_FDS: '1', LISTEN_FDNAMES: 'web', NOTIFY_SOCKET: notifyPath }),
      stdio: ['ignore', 'ignore', 'ignore', fd],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    for (;;) {
      const ready = await sys.pollAsync([ns], 10_000);
      if (ready.length === 0) throw new Error(`generation ${n} (pid ${child.pid}) sent no READY=1 within 10 s`);
      const m = sys.recvmsg(ns);
      if (m && /^READY=1$/m.test(m.data.toString())) return { child, exited };
    }
  } finally {
    sys.closeFd(ns);
  }
}

function wrkArgs(close, seconds, port) {
  const args = ['-t2', '-c32', `-d${seconds}s`];
  if (close) args.push('-H', 'Connection: close');
  return [...args, `http://127.0.0.1:${port}/`];
}

function parseWrk(stdout) {
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const [connect, read, write, timeout] = errors ? errors.slice(1).map(Number) : [0, 0, 0, 0];
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
  return { requests, failed: connect + read + write + timeout + non2xx, connect, read, write, timeout, non2xx };
}

/** One wrk run of `seconds` with a reload every `every` ms (0: none). */
async function runOnce({ close, seconds, every, app }) {
  const dir = mkdtempSync(join(tmpdir(), 'sockact-drain-'));
  const fd = sys.socket('inet', 'stream');
  let current;
  try {
    sys.setsockoptInt(fd, sys.SOL_SOCKET, sys.SO_REUSEADDR, 1);
    sys.bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
    sys.listenSocket(fd, 4096);
    const port = sys.getsockname(fd).port;
    let n = 0;
    current = await startGeneration(fd, dir, n++, app);
    const wrk = spawn('wrk', wrkArgs(close, seconds, port), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    wrk.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    const wrkDone = new Promise((resolve) => wrk.once('exit', resolve));
    const t0 = Date.now();
    let reloads = 0;
    const stops = [];
    while (every > 0 && Date.now() - t0 + every < seconds * 1000) {
      await new Promise((r) => setTimeout(r, every - ((Date.now() - t0) % every)));
      const next = await startGeneration(fd, dir, n++, app);
      current.child.kill('SIGTERM');
      const old = current;
      current = next;
      reloads++;
      const killedAt = Date.now();
      stops.push(old.exited.then(() => Date.now() - killedAt));
    }
    await wrkDone;
    const stopMs = await Promise.all(stops);
    return {
      reloads,
      ...parseWrk(stdout),
      ...(reloads ? { stopMs: { median: median(stopMs), max: Math.max(...stopMs) } } : {}),
    };
  } finally {
    if (current) {
      current.child.kill('SIGTERM');
      await current.exited;
    }
    sys.closeFd(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run({ seconds = 10, every = 1000, app = helloServer } = {}) {
  if (spawnSync('wrk', ['--version']).error)
    return { name: 'drain', skipped: 'wrk is not installed (apt-get install wrk)' };
  const out = {
    name:
      `requests lost to reloads (wrk -t2 -c32, ${seconds} s, ` +
      `a new generation every ${every} ms, old one SIGTERMed after READY=1)`,
  };
  for (const close of [false, true]) {
    const key = close ? 'connectionClose' : 'keepAlive';
    const base = await runOnce({ close, seconds, every: 0, app });
    const reloading = await runOnce({ close, seconds, every, app });
    out[key] = {
      ...reloading,
      completedVsNoReloads: reloading.requests / base.requests,
      noReloads: base,
      target: 'failed = 0',
      pass: reloading.failed === 0,
    };
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await run({ seconds: Number(process.argv[2] ?? 10) }), null, 2));
}
