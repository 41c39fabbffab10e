// Issue 3 bench: serving through sockact costs nothing per request. wrk against examples/hello
// launched by sockact, and the same app binding its own port; keep-alive and Connection: close.
// Bounded: loopback only, a fixed duration per run, a few runs.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { cleanEnv, helloServer, median, sockactBin } from './lib.js';
import { freePort } from './launch.js';

/**
 * Wait until the app answers HTTP. A connect alone is not enough: sockact's socket accepts into
 * the backlog before the app has started.
 */
function waitServing(port) {
  return new Promise((resolve) => {
    const tryOnce = () =>
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', () => setTimeout(tryOnce, 20));
    tryOnce();
  });
}

function wrk(port, close, seconds) {
  const args = ['-t1', '-c32', `-d${seconds}s`, '--latency'];
  if (close) args.push('-H', 'Connection: close');
  // wrk on CPU 0, the servers on CPU 1 (see serve()): on a 2-core machine, letting the scheduler
  // move them around was the largest source of run-to-run noise.
  const r = spawnSync('taskset', ['-c', '0', 'wrk', ...args, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)[1]);
  const errors = /Socket errors: (.*)/.exec(r.stdout)?.[1] ?? 'none';
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(r.stdout)[1]);
  return { rps, errors, non2xx, requests };
}

/** User + system CPU of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** The app's pid: the server itself, or the one child of sockact. */
function appPid(kind, child) {
  if (kind !== 'sockact') return child.pid;
  const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
  return Number(kids[0]);
}

async function serve(kind) {
  const port = await freePort();
  const node = process.execPath;
  const child =
    kind === 'sockact'
      ? spawn('taskset', ['-c', '1', node, sockactBin, '-q', '-l', `127.0.0.1:${port}`, '--', node, helloServer], {
          env: cleanEnv(),
          stdio: 'ignore',
        })
      : spawn('taskset', ['-c', '1', node, helloServer], {
          env: cleanEnv({ PORT: String(port), HOST: '127.0.0.1' }),
          stdio: 'ignore',
        });
  await waitServing(port);
  return {
    port,
    pids: { app: appPid(kind, child), launcher: kind === 'sockact' ? child.pid : undefined },
    stop: () =>
      new Promise((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', r);
        child.kill('SIGTERM');
      }),
  };
}

export async function run({ pairs = 12, seconds = 2, kinds = ['direct', 'sockact'] } = {}) {
  if (spawnSync('wrk', ['--version']).error)
    return { name: 'throughput', skipped: 'wrk is not installed (apt-get install wrk)' };
  // Both servers stay up for the whole run, and short wrk runs alternate between them, so slow
  // and fast moments of this shared machine fall on both alike; the order flips every pair.
  // Requests/s is noisy here (an A/A run of two identical servers differs by a few %), so the
  // app's CPU time per request is measured too, and the launcher's own CPU time under load.
  const [A, B] = kinds;
  const servers = { [A]: await serve(A), [`${B} `]: await serve(B) };
  const names = Object.keys(servers);
  const out = {
    name: `requests/s, ${B} vs ${A} (wrk -t1 -c32, ${pairs} alternating pairs of ${seconds} s)`,
    pairs,
    seconds,
  };
  try {
    for (const close of [false, true]) {
      const rps = Object.fromEntries(names.map((n) => [n, []]));
      const ticks = Object.fromEntries(names.map((n) => [n, 0]));
      const requests = Object.fromEntries(names.map((n) => [n, 0]));
      const launcherBefore = servers[names[1]].pids.launcher ? cpuTicks(servers[names[1]].pids.launcher) : 0;
      const errors = [];
      for (const n of names) wrk(servers[n].port, close, 1); // warm-up
      for (let i = 0; i < pairs; i++) {
        for (const n of i % 2 ? [...names].reverse() : names) {
          const before = cpuTicks(servers[n].pids.app);
          const r = wrk(servers[n].port, close, seconds);
          ticks[n] += cpuTicks(servers[n].pids.app) - before;
          requests[n] += r.requests;
          rps[n].push(r.rps);
          if (r.errors !== 'none' || r.non2xx) errors.push(`${n.trim()}: ${r.errors}, non2xx ${r.non2xx}`);
        }
      }
      const launcherTicks = servers[names[1]].pids.launcher
        ? cpuTicks(servers[names[1]].pids.launcher) - launcherBefore
        : undefined;
      const [a, b] = names;
      const usPerReq = (n) => (ticks[n] * 10_000) / requests[n]; // 100 ticks per second
      out[close ? 'connectionClose' : 'keepAlive'] = {
        [`${A}Rps`]: median(rps[a]),
        [`${B}Rps`]: median(rps[b]),
        ratio: median(rps[b]) / median(rps[a]),
        medianPairRatio: median(rps[b].map((x, i) => x / rps[a][i])),
        cpuUsPerRequest: { [A]: usPerReq(a), [B]: usPerReq(b) },
        cpuRatio: usPerReq(b) / usPerReq(a),
        ...(launcherTicks !== undefined ? { launcherCpuMsDuringLoad: launcherTicks * 10 } : {}),
        runs: rps,
        errors,
        target: 'ratio >= 0.98',
        pass: median(rps[b]) / median(rps[a]) >= 0.98,
      };
    }
  } finally {
    for (const n of names) await servers[n].stop();
  }
  return out;
}
