// Issue 9: sockact --takeover under wrk keep-alive load. A sockact serves the fixture app; every
// few seconds a new sockact takes its sockets, alternating --workers 2 and 1 (N -> N+1 -> N ...),
// while wrk -t2 -c32 runs the whole time. Reported: failed requests (socket errors + non-2xx) and
// the hand-off times: from spawning the new sockact to its children being ready, and to the old
// sockact's exit; the new sockact's own figures (from its takeover start) too. Loopback only.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort } from './launch.js';
import { cleanEnv, median, root, sockactBin } from './lib.js';
import { wrk } from './supervise.js';

const appPath = join(root, 'bench', 'fixtures', 'app.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start a sockact; `lines` resolves the first stderr line matching a pattern, with when it came. */
function start(args) {
  const child = spawn(process.execPath, [sockactBin, ...args, '--', process.execPath, appPath], {
    env: cleanEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const seen = [];
  const waiters = new Set();
  let buf = '';
  child.stderr.setEncoding('utf8').on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop();
    for (const line of parts) seen.push({ t: performance.now(), line });
    for (const w of [...waiters]) w();
  });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal, t: performance.now() })));
  const line = (re) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = seen.find((s) => re.test(s.line));
        if (hit) {
          waiters.delete(check);
          resolve({ ...hit, m: re.exec(hit.line) });
        }
      };
      waiters.add(check);
      check();
      void exited.then(() =>
        setTimeout(
          () =>
            waiters.has(check) &&
            reject(new Error(`sockact exited without ${re}: ${seen.map((s) => s.line).join(' | ')}`)),
          50,
        ),
      );
    });
  return { child, line, exited };
}

const ms = (x) => Math.round(x * 10) / 10;

export async function run({ takeovers = 6, everyMs = 2500 } = {}) {
  if (spawnSync('wrk', ['--version']).error) return { skipped: 'wrk is not installed (apt-get install wrk)' };
  const dir = mkdtempSync(join(tmpdir(), 'sockact-bench-takeover-'));
  const port = await freePort();
  const control = ['-l', `127.0.0.1:${port}`, '--control', join(dir, 'control.sock')];
  let current = start(control);
  await current.line(/ready, generation 1/);
  const seconds = Math.ceil((takeovers * everyMs) / 1000) + 2;
  const load = wrk({ port, close: false, seconds, pin: null });
  const rounds = [];
  try {
    for (let i = 0; i < takeovers; i++) {
      await sleep(everyMs);
      const t0 = performance.now();
      const next = start([...control, '--takeover', '--workers', i % 2 === 0 ? '2' : '1']);
      const ready = await next.line(/children ready (\S+ \S+) after the takeover began/);
      const done = await next.line(/takeover done in (\S+ \S+)/);
      const old = await current.exited;
      rounds.push({
        workers: i % 2 === 0 ? 2 : 1,
        spawnToReadyMs: ms(ready.t - t0),
        spawnToOldExitMs: ms(old.t - t0),
        reportedReady: ready.m[1],
        reportedDone: done.m[1],
        oldExit: old.code,
      });
      current = next;
    }
  } finally {
    const w = await load.catch((err) => ({ error: String(err) }));
    current.child.kill('SIGTERM');
    await current.exited;
    rmSync(dir, { recursive: true, force: true });
    rounds.wrk = w;
  }
  const w = rounds.wrk;
  return {
    name: `--takeover under wrk -t2 -c32 -d${seconds}s keep-alive: ${takeovers} takeovers, workers 1 -> 2 -> 1 ...`,
    requests: w.requests,
    failed: w.failed,
    errors: w.errors,
    medianSpawnToReadyMs: median(rounds.map((r) => r.spawnToReadyMs)),
    medianSpawnToOldExitMs: median(rounds.map((r) => r.spawnToOldExitMs)),
    rounds: rounds.map((r) => r),
  };
}
