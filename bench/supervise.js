// Issue 6 benches (the supervisor) and issue 10's chart: reloads under wrk load against sockact,
// the naive restart and pm2; a reload storm with failing generations; reload latency; workers
// against Node's cluster module; leaks over 1000 reloads and idle cost. Loopback only; every load
// run has a fixed length. wrk on CPU 0, the servers on CPU 1 (except the workers bench, where the
// two workers need both CPUs).
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cleanEnv, dist, median, root, sockactBin } from './lib.js';
import { freePort } from './launch.js';
import { reloadChart } from './svg.js';

const node = process.execPath;
const appPath = join(root, 'bench', 'fixtures', 'app.mjs');
const loadPath = join(root, 'bench', 'fixtures', 'load.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let goBuilt;
/**
 * bench/fixtures/goapp built once per run into a temporary directory (Debian's golang-go and
 * golang-github-coreos-go-systemd-dev, GOPATH mode): { path } or { error }.
 */
function goApp() {
  if (goBuilt) return goBuilt;
  const dir = mkdtempSync(join(tmpdir(), 'sockact-bench-go-'));
  const out = join(dir, 'goapp');
  const r = spawnSync('go', ['build', '-o', out, '.'], {
    cwd: join(root, 'bench', 'fixtures', 'goapp'),
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '' },
    encoding: 'utf8',
  });
  goBuilt =
    r.status === 0
      ? { path: out, dir }
      : {
          error:
            `the Go app does not build (apt-get install golang-go ` +
            `golang-github-coreos-go-systemd-dev): ${(r.error?.message ?? r.stderr).trim().split('\n')[0]}`,
        };
  return goBuilt;
}
/** Where the bench installs pm2 (npm install --prefix), outside the repository. */
export const PM2_DIR = process.env.SOCKACT_BENCH_PM2 ?? join(tmpdir(), 'sockact-bench-pm2');

let control;
async function sendControl(path, command) {
  control ??= await import(dist('supervise/control.js'));
  return control.sendControl(path, command);
}

// ---------------------------------------------------------------------------------------------
// processes

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', r));
}

/**
 * Spawn with stderr collected as timestamped lines; `waitLine(re, from)` resolves with the first match at
 * index >= from.
 */
function tracked(cmd, args, env) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = [];
  const waiters = new Set();
  let buf = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    const t = performance.now();
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop();
    for (const line of parts) lines.push({ t, line });
    for (const w of [...waiters]) w();
  });
  const waitLine = (re, from = 0, timeoutMs = 20_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        for (let i = from; i < lines.length; i++) {
          const m = re.exec(lines[i].line);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            return resolve({ ...lines[i], m, index: i });
          }
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `no line matching ${re} within ${timeoutMs} ms; last lines:\n${lines
              .slice(-8)
              .map((l) => l.line)
              .join('\n')}`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { child, lines, waitLine };
}

/** Resolves once a TCP connect to the port succeeds (the app bound it, or sockact holds it). */
function waitConnect(port, timeoutMs = 20_000) {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () =>
        performance.now() > deadline ? reject(new Error(`port ${port} never accepted`)) : setTimeout(attempt, 5),
      );
    };
    attempt();
  });
}

/** Children of a process (/proc/PID/task/PID/children). */
function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Children of `pid` in state Z (zombies: exited, not reaped). */
function zombiesOf(pid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[0] === 'Z' && Number(f[1]) === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Open fds of a process, by kind (socket, pipe, anon_inode:[eventpoll], /dev/null, ...). */
function fdsOf(pid) {
  const kinds = {};
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let t;
    try {
      t = readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/\[\d+\]$/, '');
    } catch {
      continue;
    }
    kinds[t] = (kinds[t] ?? 0) + 1;
    n++;
  }
  return { n, kinds };
}

const rssKB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/**
 * CPU of a process: utime + stime in clock ticks (/proc/PID/stat 14, 15), and every thread's run time and
 * timeslices (schedstat).
 */
function cpuOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let runNs = 0;
  let slices = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [ns, , n] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      runNs += ns;
      slices += n;
    } catch {
      // a thread gone meanwhile
    }
  }
  return { ticks: Number(f[11]) + Number(f[12]), runNs, slices };
}

// ---------------------------------------------------------------------------------------------
// the systems under test: each has a port, reload() and stop()

/** sockact supervising the fixture app; `pin` is the CPU list for taskset (none: unpinned). */
async function startSockact({
  args = [],
  env = {},
  program = [node, appPath],
  pin = '1',
  quiet = false,
  name = 'sockact',
} = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sockact-bench-'));
  const controlPath = join(dir, 'control.sock');
  const argv = [
    sockactBin,
    ...(quiet ? ['-q'] : []),
    '-l',
    `127.0.0.1:${port}`,
    '--control',
    controlPath,
    ...args,
    '--',
    ...program,
  ];
  const p = pin ? tracked('taskset', ['-c', pin, node, ...argv], cleanEnv(env)) : tracked(node, argv, cleanEnv(env));
  p.child.once('exit', (code, signal) =>
    p.lines.push({ t: performance.now(), line: `(sockact exited ${code ?? signal})` }),
  );
  if (!quiet) await p.waitLine(/^sockact: (ready, generation 1 |\d+ of \d+ workers ready)/);
  else await waitConnect(port);
  return {
    name,
    port,
    pid: p.child.pid, // taskset execs sockact: same pid
    controlPath,
    dir,
    p,
    reload: async () => {
      const o = await sendControl(controlPath, 'reload');
      if (!o.ok) throw new Error(o.message);
    },
    status: async () => (await sendControl(controlPath, 'status')).status,
    stop: async () => {
      p.child.kill('SIGTERM');
      await exited(p.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The naive way: the app binds its own port; a reload stops it and starts a new one. */
async function startNaive() {
  const port = await freePort();
  const env = cleanEnv({ PORT: String(port), HOST: '127.0.0.1' });
  const start = () => spawn('taskset', ['-c', '1', node, appPath], { env, stdio: 'ignore' });
  let cur = start();
  await waitConnect(port);
  return {
    name: 'naive restart',
    port,
    reload: async () => {
      cur.kill('SIGTERM');
      await exited(cur);
      cur = start();
      await waitConnect(port);
    },
    stop: async () => {
      cur.kill('SIGTERM');
      await exited(cur);
    },
  };
}

/** pm2, installed once into PM2_DIR (never into the repository); undefined with the reason when it cannot be. */
let pm2State;
export function pm2Available() {
  if (pm2State) return pm2State;
  const bin = join(PM2_DIR, 'node_modules', 'pm2', 'bin', 'pm2');
  if (!existsSync(bin)) {
    mkdirSync(PM2_DIR, { recursive: true });
    process.stderr.write(`bench: installing pm2 into ${PM2_DIR} (npm install --prefix)\n`);
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', PM2_DIR, 'pm2'], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (r.status !== 0 || !existsSync(bin)) {
      pm2State = { error: `pm2 did not install: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
      return pm2State;
    }
  }
  // One PM2_HOME for this run, set before pm2 is loaded (it reads it at require time); silenced
  // so that its messages do not mix with the bench's JSON on stdout.
  const home = mkdtempSync(join(tmpdir(), 'sockact-bench-pm2home-'));
  process.env.PM2_HOME = home;
  process.env.PM2_SILENT = 'true';
  const mod = createRequire(join(PM2_DIR, 'package.json'))('pm2');
  const version = JSON.parse(readFileSync(join(PM2_DIR, 'node_modules', 'pm2', 'package.json'), 'utf8')).version;
  pm2State = { bin, home, mod, version };
  return pm2State;
}

const cb2p = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

/** An app under pm2 (fork: one process; cluster: -i 1, pm2's cluster primary in front). */
async function startPm2(mode) {
  const s = pm2Available();
  if (s.error) throw new Error(s.error);
  const port = await freePort();
  const env = cleanEnv({ PM2_HOME: s.home, PM2_SILENT: 'true', PORT: String(port), HOST: '127.0.0.1' });
  const cli = (...args) => spawnSync('taskset', ['-c', '1', node, s.bin, ...args], { env, encoding: 'utf8' });
  // The CLI starts pm2's daemon pinned to CPU 1 with a clean environment; the app inherits both.
  const r = cli('start', appPath, '--name', 'bench', ...(mode === 'cluster' ? ['-i', '1'] : []));
  if (r.status !== 0) throw new Error(`pm2 start failed: ${r.stderr}`);
  await waitConnect(port);
  const api = new s.mod.custom({ pm2_home: s.home });
  await cb2p((cb) => api.connect(cb));
  return {
    name: `pm2 ${mode} reload`,
    port,
    reload: () => cb2p((cb) => api.reload('bench', cb)),
    stop: async () => {
      api.disconnect();
      cli('kill');
    },
  };
}

const SYSTEMS = {
  sockact: () => startSockact(),
  'sockact-go': () => startSockact({ program: [goApp().path], name: 'sockact (Go app)' }),
  naive: () => startNaive(),
  'pm2-fork': () => startPm2('fork'),
  'pm2-cluster': () => startPm2('cluster'),
};

/**
 * Ask `sys` to reload every `everyMs` from `everyMs` on until `seconds` is up, one at a time: a
 * tick that comes while the last reload is still running is skipped (and counted).
 */
function driveReloads(sys, seconds, everyMs = 1000) {
  const t0 = Date.now();
  const out = { asked: 0, ok: 0, failed: 0, skipped: 0, errors: [], times: [] };
  let busy = false;
  const done = [];
  const timer = setInterval(() => {
    if (Date.now() - t0 > seconds * 1000 - everyMs / 2) return;
    if (busy) return void out.skipped++;
    busy = true;
    out.asked++;
    out.times.push(Date.now());
    done.push(
      sys
        .reload()
        .then(
          () => out.ok++,
          (err) => {
            out.failed++;
            out.errors.push(String(err.message ?? err).slice(0, 200));
          },
        )
        .finally(() => {
          busy = false;
        }),
    );
  }, everyMs);
  return {
    finish: async () => {
      clearInterval(timer);
      await Promise.all(done);
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// wrk

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** wrk -t2 -c32 for `seconds` (pinned to CPU 0 unless pin is null); failed = socket errors + non-2xx. */
export function wrk({ port, close, seconds, threads = 2, conns = 32, pin = '0', timeout }) {
  const args = [
    `-t${threads}`,
    `-c${conns}`,
    `-d${seconds}s`,
    '--latency',
    ...(timeout ? ['--timeout', `${timeout}s`] : []),
    ...(close ? ['-H', 'Connection: close'] : []),
    `http://127.0.0.1:${port}/`,
  ];
  const child = pin ? spawn('taskset', ['-c', pin, 'wrk', ...args]) : spawn('wrk', args);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk failed (${code}): ${err}`));
      const e = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
        .exec(out)
        ?.slice(1)
        .map(Number) ?? [0, 0, 0, 0];
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
      const requests = Number(/(\d+) requests in/.exec(out)[1]);
      const errors = { connect: e[0], read: e[1], write: e[2], timeout: e[3], non2xx };
      resolve({
        requests,
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
        p99Ms: p99 ? Number(p99[1]) * UNIT_MS[p99[2]] : undefined,
        errors,
        failed: e[0] + e[1] + e[2] + e[3] + non2xx,
      });
    });
  });
}

const MODES = [
  ['keepAlive', false, 'keep-alive'],
  ['connectionClose', true, 'Connection: close'],
];

// ---------------------------------------------------------------------------------------------
// 1. reload under load

/** wrk for `seconds` against `sys`, with a reload every second when `reloads`. */
async function loadRun(sys, close, seconds, reloads) {
  const drive = reloads ? driveReloads(sys, seconds) : undefined;
  const w = await wrk({ port: sys.port, close, seconds });
  const r = drive ? await drive.finish() : undefined;
  return {
    ...w,
    ...(r
      ? { reloads: { asked: r.asked, ok: r.ok, failed: r.failed, skipped: r.skipped, errors: r.errors.slice(0, 3) } }
      : {}),
  };
}

export async function reloadUnderLoad({
  seconds = 10,
  systems = ['sockact', 'sockact-go', 'naive', 'pm2-fork', 'pm2-cluster'],
} = {}) {
  if (spawnSync('wrk', ['--version']).error) return { skipped: 'wrk is not installed (apt-get install wrk)' };
  const out = {
    name: `reload under load: wrk -t2 -c32 -d${seconds}s, a reload every second`,
    seconds,
  };
  for (const name of systems) {
    if (name.startsWith('pm2') && pm2Available().error) {
      out[name] = { skipped: pm2Available().error };
      continue;
    }
    if (name.startsWith('pm2')) out.pm2Version = pm2Available().version;
    if (name === 'sockact-go' && goApp().error) {
      out[name] = { skipped: goApp().error };
      continue;
    }
    const res = {};
    for (const [key, close] of MODES) {
      const sys = await SYSTEMS[name]();
      try {
        await wrk({ port: sys.port, close, seconds: 1 }); // warm-up
        // The naive restart has no "without reloads" run: without reloads it is the same app.
        const base = name === 'naive' ? undefined : await loadRun(sys, close, seconds, false);
        const withReloads = await loadRun(sys, close, seconds, true);
        res[key] = {
          ...(base ? { noReloads: base } : {}),
          reloads: withReloads,
          ...(base
            ? { p99Ratio: withReloads.p99Ms / base.p99Ms, completedRatio: withReloads.requests / base.requests }
            : {}),
        };
        if (name.startsWith('sockact')) {
          res[key].target = '0 failed, p99 ratio <= 1.5, completed ratio >= 0.9';
          res[key].pass = withReloads.failed === 0 && res[key].p99Ratio <= 1.5 && res[key].completedRatio >= 0.9;
        }
      } finally {
        await sys.stop();
      }
    }
    out[name] = res;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 2. reload storm

export async function storm({ reloads = 50, seconds = 10 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sockact-bench-storm-'));
  const counter = join(dir, 'starts');
  const s = await startSockact({ env: { FAIL_EVERY: '3', COUNTER_FILE: counter } });
  try {
    await wrk({ port: s.port, close: false, seconds: 1 }); // warm-up
    await sleep(200);
    const fdsBefore = fdsOf(s.pid);
    const load = wrk({ port: s.port, close: false, seconds: seconds + 2 });
    await sleep(1000);
    // SIGHUP, as systemd's ExecReload=kill -HUP $MAINPID would send it.
    for (let i = 0; i < reloads; i++) {
      process.kill(s.pid, 'SIGHUP');
      await sleep((seconds * 1000) / reloads);
    }
    const w = await load;
    // Settle: no reload running, nothing retiring.
    let st;
    for (let i = 0; i < 200; i++) {
      st = await s.status();
      if (!st.reloading && st.workers.length === 1 && st.workers[0].state === 'ready') break;
      await sleep(50);
    }
    await sleep(200);
    const zombies = zombiesOf(s.pid);
    const fdsAfter = fdsOf(s.pid);
    const kids = childrenOf(s.pid);
    const starts = Number(readFileSync(counter, 'utf8'));
    const serving = st.workers.filter((x) => x.role === 'serving' && x.state === 'ready');
    return {
      name:
        `reload storm: ${reloads} SIGHUPs in ${seconds} s under wrk -t2 -c32 keep-alive; ` +
        `every 3rd start of the app exits 1`,
      reloadsAsked: reloads,
      appStarts: starts,
      generationsStarted: st.generation,
      reloadsSucceeded: st.reloads,
      reloadsFailed: st.failedReloads,
      requests: w.requests,
      failed: w.failed,
      errors: w.errors,
      servingAfter: serving.length,
      childrenAfter: kids.length,
      zombies: zombies.length,
      fdsBefore: fdsBefore.n,
      fdsAfter: fdsAfter.n,
      fdKinds: { before: fdsBefore.kinds, after: fdsAfter.kinds },
      target: '0 failed, 1 serving generation, no zombies, fds unchanged',
      pass:
        w.failed === 0 &&
        serving.length === 1 &&
        kids.length === 1 &&
        zombies.length === 0 &&
        fdsAfter.n === fdsBefore.n,
    };
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 3. reload latency

const toMs = (n, unit) => Number(n) * (unit === 's' ? 1000 : 1);

export async function latency({ rounds = 20 } = {}) {
  const s = await startSockact({ pin: null });
  const samples = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const from = s.p.lines.length;
      const t0 = performance.now();
      process.kill(s.pid, 'SIGHUP');
      const started = await s.p.waitLine(/^sockact: started .* as pid (\d+) \(generation (\d+)\)/, from);
      const ready = await s.p.waitLine(
        new RegExp(`^sockact: pid ${started.m[1]} \\(generation \\d+\\) ready in ([\\d.]+) (ms|s)`),
        from,
      );
      const stopping = await s.p.waitLine(/^sockact: stopping pid (\d+)/, from);
      await s.p.waitLine(new RegExp(`^sockact: pid ${stopping.m[1]}\\b.*(exited|killed)`), from);
      const readyMs = toMs(ready.m[1], ready.m[2]);
      samples.push({
        totalMs: stopping.t - t0,
        readyMs,
        overheadMs: stopping.t - t0 - readyMs,
        toStartedLineMs: started.t - t0,
        readyLineToStoppingMs: stopping.t - ready.t,
      });
      await sleep(200);
    }
  } finally {
    await s.stop();
  }
  const med = (k) => median(samples.map((x) => x[k]));
  return {
    name: 'reload latency: SIGHUP to the "stopping pid N" line, minus the app\'s spawn-to-READY ("ready in X ms")',
    rounds,
    medianTotalMs: med('totalMs'),
    medianReadyMs: med('readyMs'),
    medianOverheadMs: med('overheadMs'),
    medianSighupToStartedLineMs: med('toStartedLineMs'),
    medianReadyLineToStoppingLineMs: med('readyLineToStoppingMs'),
    maxOverheadMs: Math.max(...samples.map((x) => x.overheadMs)),
    target: 'median overhead < 50 ms',
    pass: med('overheadMs') < 50,
  };
}

// ---------------------------------------------------------------------------------------------
// 4. workers

/** Requests served so far by each worker: SIGUSR2 makes the app write its count to STATS_DIR/PID.json. */
async function served(pids, dir) {
  for (const f of readdirSync(dir)) rmSync(join(dir, f));
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
  const done = () => readdirSync(dir).filter((f) => f.endsWith('.json'));
  for (let i = 0; i < 200 && done().length < pids.length; i++) await sleep(10);
  const by = {};
  for (const f of done()) {
    const x = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    by[x.pid] = { served: x.served, connections: x.connections };
  }
  return by;
}

export async function workers({ pairs = 5, seconds = 5, threads = 2 } = {}) {
  if (spawnSync('wrk', ['--version']).error) return { skipped: 'wrk is not installed (apt-get install wrk)' };
  const statsS = mkdtempSync(join(tmpdir(), 'sockact-bench-stats-'));
  const statsC = mkdtempSync(join(tmpdir(), 'sockact-bench-stats-'));
  // Both CPUs for everyone: two workers on one CPU would measure nothing.
  const s = await startSockact({ args: ['--workers', '2'], env: { STATS_DIR: statsS }, pin: null });
  const cport = await freePort();
  const c = spawn(node, [appPath], {
    env: cleanEnv({ CLUSTER: '2', PORT: String(cport), HOST: '127.0.0.1', STATS_DIR: statsC }),
    stdio: 'ignore',
  });
  try {
    await waitConnect(cport);
    for (let i = 0; i < 100 && childrenOf(c.pid).length < 2; i++) await sleep(20);
    await sleep(500);
    const sides = {
      sockact: { port: s.port, pids: childrenOf(s.pid), dir: statsS },
      cluster: { port: cport, pids: childrenOf(c.pid), dir: statsC },
    };
    const out = {
      name:
        `--workers 2 vs Node cluster (2 round-robin workers), ` +
        `wrk -t2 -c32 unpinned, ${pairs} alternating pairs of ${seconds} s`,
      pairs,
      seconds,
    };
    for (const [key, close] of MODES) {
      const rps = { sockact: [], cluster: [] };
      const balance = { sockact: [], cluster: [] };
      for (const n of ['sockact', 'cluster']) await wrk({ port: sides[n].port, close, seconds: 1, pin: null });
      for (let i = 0; i < pairs; i++) {
        for (const n of i % 2 ? ['cluster', 'sockact'] : ['sockact', 'cluster']) {
          const x = sides[n];
          const before = await served(x.pids, x.dir);
          const w = await wrk({ port: x.port, close, seconds, pin: null, threads });
          const after = await served(x.pids, x.dir);
          const per = x.pids.map((p) => after[p].served - before[p].served);
          // Connections each worker accepted: how the shared queue split them (keep-alive: 32 in all).
          const conns = x.pids.map((p) => after[p].connections - before[p].connections);
          rps[n].push(w.rps);
          balance[n].push({
            perWorker: per,
            ratio: Math.max(...per) / Math.min(...per),
            connections: conns,
            failed: w.failed,
          });
        }
      }
      const ratio = median(rps.sockact) / median(rps.cluster);
      const bal = median(balance.sockact.map((b) => b.ratio));
      out[key] = {
        sockactRps: median(rps.sockact),
        clusterRps: median(rps.cluster),
        ratio,
        runs: rps,
        balance: { sockact: bal, cluster: median(balance.cluster.map((b) => b.ratio)), runs: balance },
        target: `${close ? 'ratio >= 1.8, ' : ''}busier/other <= 1.1`,
        pass: (!close || ratio >= 1.8) && bal <= 1.1,
      };
    }
    return out;
  } finally {
    c.kill('SIGTERM');
    await exited(c);
    await s.stop();
    rmSync(statsS, { recursive: true, force: true });
    rmSync(statsC, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 5. leaks and idle

export async function leaks({ reloads = 1000, warmup = 20, idleAfter = 15 } = {}) {
  // A fast program, so 1000 reloads take seconds: systemd's own systemd-notify says READY=1.
  const s = await startSockact({ program: ['sh', '-c', 'systemd-notify --ready; exec sleep 600'], pin: null });
  const settle = async () => {
    for (let i = 0; i < 200; i++) {
      const st = await s.status();
      if (!st.reloading && st.workers.length === 1 && childrenOf(s.pid).length === 1) return;
      await sleep(10);
    }
  };
  try {
    const rssStart = rssKB(s.pid);
    for (let i = 0; i < warmup; i++) await s.reload();
    await settle();
    await sleep(200); // the status connection closes on sockact's side too
    const fdsBefore = fdsOf(s.pid);
    const rssBefore = rssKB(s.pid);
    const rssAt = {};
    const t0 = performance.now();
    let failedReloads = 0;
    for (let i = 1; i <= reloads; i++) {
      await s.reload().catch(() => failedReloads++);
      if (i % 250 === 0) rssAt[i] = rssKB(s.pid) / 1024;
    }
    const ms = performance.now() - t0;
    await settle();
    await sleep(200);
    const fdsAfter = fdsOf(s.pid);
    const rssAfter = rssKB(s.pid);
    const zombies = zombiesOf(s.pid);
    const growthMB = (rssAfter - rssBefore) / 1024;
    // Then idle: V8 gives back heap it grew for the reloads' garbage only when it sees an idle
    // process (its memory reducer); a leak would stay.
    await sleep(idleAfter * 1000);
    const rssAfterIdle = rssKB(s.pid);
    return {
      name:
        `leaks: ${reloads} reloads of sh -c 'systemd-notify --ready; ` +
        `exec sleep 600', one after another (after ${warmup} warm-up reloads)`,
      reloads,
      failedReloads,
      seconds: ms / 1000,
      rssStartMB: rssStart / 1024,
      rssBeforeMB: rssBefore / 1024,
      rssAfterMB: rssAfter / 1024,
      rssAtMB: rssAt,
      growthMB,
      growthFromStartMB: (rssAfter - rssStart) / 1024,
      idleAfterSeconds: idleAfter,
      rssAfterIdleMB: rssAfterIdle / 1024,
      growthAfterIdleMB: (rssAfterIdle - rssBefore) / 1024,
      fdsBefore: fdsBefore.n,
      fdsAfter: fdsAfter.n,
      fdKinds: { before: fdsBefore.kinds, after: fdsAfter.kinds },
      childrenAfter: childrenOf(s.pid).length,
      zombies: zombies.length,
      target: 'RSS growth < 2 MB, fds unchanged',
      pass: growthMB < 2 && fdsAfter.n === fdsBefore.n && failedReloads === 0,
    };
  } finally {
    await s.stop();
  }
}

export async function idle({ seconds = 10 } = {}) {
  const s = await startSockact({ pin: null });
  try {
    for (let i = 0; i < 20; i++) await fetchOnce(s.port); // the app has served something
    // Two windows: V8 still does some housekeeping of its own (GC, compiler threads) in the
    // first seconds after start; the second window is the steady state.
    const windows = [];
    let a = cpuOf(s.pid);
    for (let w = 0; w < 2; w++) {
      await sleep(seconds * 1000);
      const b = cpuOf(s.pid);
      windows.push({
        cpuMs: (b.ticks - a.ticks) * 10,
        runMs: (b.runNs - a.runNs) / 1e6,
        timeslices: b.slices - a.slices,
      });
      a = b;
    }
    const rss = rssKB(s.pid) / 1024;
    return {
      name:
        `idle: sockact with one child (bench/fixtures/app.mjs), ` +
        `two windows of ${seconds} s after it served 20 requests`,
      seconds,
      firstWindow: windows[0],
      secondWindow: windows[1],
      rssMB: rss,
      target: 'CPU ~0 in the steady state (no timer wakes it), RSS <= 50 MB',
      pass: windows[1].timeslices === 0 && rss <= 50,
    };
  } finally {
    await s.stop();
  }
}

function fetchOnce(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () =>
      sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    );
    sock.on('data', () => {});
    sock.on('end', resolve);
    sock.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// 6. the chart

function runLoadClient(port, seconds, close, bucketMs) {
  const child = spawn(
    'taskset',
    ['-c', '0', node, loadPath, String(port), String(seconds), '32', close ? 'close' : 'keepalive', String(bucketMs)],
    {
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return exited(child).then(() => JSON.parse(out));
}

const COLORS = {
  sockact: '#1a7f37',
  'sockact-go': '#8250df',
  naive: '#cf222e',
  'pm2-fork': '#bf8700',
  'pm2-cluster': '#0969da',
};

export async function chart({
  seconds = 8,
  bucketMs = 200,
  systems = ['sockact', 'sockact-go', 'naive', 'pm2-fork', 'pm2-cluster'],
} = {}) {
  const panels = [];
  const totals = {};
  const used = systems.filter(
    (n) => (!n.startsWith('pm2') || !pm2Available().error) && (n !== 'sockact-go' || !goApp().error),
  );
  for (const [key, close, label] of MODES) {
    const series = [];
    totals[key] = {};
    for (const name of used) {
      const sys = await SYSTEMS[name]();
      let data;
      let r;
      try {
        await sleep(300);
        const load = runLoadClient(sys.port, seconds, close, bucketMs);
        await sleep(100);
        const drive = driveReloads(sys, seconds);
        data = await load;
        r = await drive.finish();
      } finally {
        await sys.stop();
      }
      const ok = data.ok.reduce((a, b) => a + b, 0);
      const failed = data.failed.reduce((a, b) => a + b, 0);
      totals[key][name] = { ok, failed, reloads: r.ok, reloadsFailed: r.failed };
      const at = (i) => ((i + 0.5) * bucketMs) / 1000;
      series.push({
        name: sys.name,
        color: COLORS[name],
        note: `${ok} ok, ${failed} failed, ${r.ok} reloads`,
        rps: data.ok.map((v, i) => [at(i), (v * 1000) / bucketMs]),
        failed: data.failed.map((v, i) => [at(i), v]),
      });
    }
    panels.push({ title: label, series });
  }
  const svg = reloadChart({
    title: 'Requests/s and failed requests across reloads (a reload asked for every second)',
    subtitle:
      `32 connections (bench/fixtures/load.mjs, CPU 0), server on CPU 1, ${bucketMs} ms buckets; ` +
      `a failure pauses its connection 10 ms; ` +
      `${pm2Available().error ? `pm2: ${pm2Available().error}` : `pm2 ${pm2Available().version}`}`,
    panels,
    xMax: seconds,
    marks: Array.from({ length: seconds - 1 }, (_, i) => i + 1),
    failedLabel: `failed requests per ${bucketMs} ms`,
  });
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'reload.svg'), svg);
  mkdirSync(join(root, 'docs'), { recursive: true });
  writeFileSync(join(root, 'docs', 'reload.svg'), svg);
  return { name: 'chart: bench/results/reload.svg (copied to docs/reload.svg)', seconds, bucketMs, totals };
}

// ---------------------------------------------------------------------------------------------
// 7. a fresh process's first seconds: what every reload of a Node app starts from

/**
 * The app started alone (it binds its own port, CPU 1), then wrk -t2 -c32 (CPU 0) for `seconds`
 * one-second runs back to back from the moment it accepts; `rounds` fresh starts, medians per
 * second. The Node app against the Go app: V8 compiles the request path while it serves, Go
 * starts compiled.
 */
export async function coldStart({ rounds = 3, seconds = 5 } = {}) {
  if (spawnSync('wrk', ['--version']).error) return { skipped: 'wrk is not installed (apt-get install wrk)' };
  const out = {
    name:
      `a fresh app's first seconds: ` +
      `wrk -t2 -c32, ${seconds} one-second runs from its first accept (${rounds} starts, medians)`,
    rounds,
    seconds,
  };
  const apps = { node: [node, appPath], ...(goApp().error ? {} : { go: [goApp().path] }) };
  if (goApp().error) out.go = { skipped: goApp().error };
  for (const [name, argv] of Object.entries(apps)) {
    const perSecond = Array.from({ length: seconds }, () => []);
    for (let r = 0; r < rounds; r++) {
      const port = await freePort();
      const app = spawn('taskset', ['-c', '1', ...argv], {
        env: cleanEnv({ PORT: String(port), HOST: '127.0.0.1' }),
        stdio: 'ignore',
      });
      try {
        await waitConnect(port);
        for (let i = 0; i < seconds; i++) perSecond[i].push((await wrk({ port, close: false, seconds: 1 })).rps);
      } finally {
        app.kill('SIGTERM');
        await exited(app);
      }
    }
    const rps = perSecond.map(median);
    out[name] = { rps, ofLast: rps.map((x) => x / rps.at(-1)), runs: perSecond };
  }
  return out;
}

/** Remove what the run left behind (pm2's home directory; its daemon is killed after each system; the Go build). */
export function cleanup() {
  if (pm2State?.home) rmSync(pm2State.home, { recursive: true, force: true });
  if (goBuilt?.dir) rmSync(goBuilt.dir, { recursive: true, force: true });
}
