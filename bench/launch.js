// Issue 3 benches: the launcher's start-up, time to first response, 1000 listeners, and RSS.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { cleanEnv, helloServer, median, paired, sockactBin, timeSync } from './lib.js';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', r));
}

/** Spawn sockact and resolve with the ms until it says it is listening (its first stderr line). */
export function timeToBound(args, bin = sockactBin) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [bin, ...args], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      if (/listening on/.test(err)) {
        const ms = performance.now() - t0;
        child.kill('SIGTERM');
        exited(child).then(() => resolve(ms));
      }
    });
    child.on('exit', (code) => {
      if (!/listening on/.test(err)) reject(new Error(`sockact exited ${code}: ${err}`));
    });
  });
}

export async function startup({ rounds = 20 } = {}) {
  const { medians } = await paired(rounds, {
    nodeBare: () => timeSync(process.execPath, ['-e', '0']).ms,
    sockactBound: () => timeToBound(['-l', '127.0.0.1:0', '--', 'sleep', '10']),
  });
  return {
    name: 'launcher start-up: spawn to sockets bound (first "listening on" line), vs node -e 0',
    rounds,
    nodeMs: medians.nodeBare,
    sockactMs: medians.sockactBound,
    addedMs: medians.sockactBound - medians.nodeBare,
    target: 'added <= 40 ms',
    pass: medians.sockactBound - medians.nodeBare <= 40,
  };
}

/** GET / on 127.0.0.1:port, retrying refused connects every ms (a launcher not bound yet refuses). */
function firstResponse(port, deadline) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect(port, '127.0.0.1');
      let data = '';
      sock.on('connect', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      sock.on('data', (d) => (data += d));
      sock.on('end', () => resolve(data));
      sock.on('error', (e) => {
        if (e.code === 'ECONNREFUSED' && performance.now() < deadline) setTimeout(attempt, 1);
        else reject(e);
      });
    };
    attempt();
  });
}

export async function ttfrOnce(cmd, args) {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(cmd, args(port), { env: cleanEnv(), stdio: ['ignore', 'ignore', 'ignore'] });
  const body = await firstResponse(port, t0 + 10_000);
  const ms = performance.now() - t0;
  if (!/^HTTP\/1\.1 200/.test(body)) throw new Error(`unexpected answer: ${body.slice(0, 80)}`);
  child.kill('SIGTERM');
  await exited(child);
  return ms;
}

export async function ttfr({ rounds = 15 } = {}) {
  const node = process.execPath;
  const { medians } = await paired(rounds, {
    ssa: () => ttfrOnce('systemd-socket-activate', (p) => ['-l', `127.0.0.1:${p}`, node, helloServer]),
    sockact: () => ttfrOnce(node, (p) => [sockactBin, '-q', '-l', `127.0.0.1:${p}`, '--', node, helloServer]),
  });
  return {
    name: 'time to first response: launch to first HTTP answer from examples/hello',
    rounds,
    systemdSocketActivateMs: medians.ssa,
    sockactMs: medians.sockact,
    ratio: medians.sockact / medians.ssa,
    target: 'ratio <= 2.5',
    pass: medians.sockact / medians.ssa <= 2.5,
  };
}

export async function thousand({ count = 1000, rounds = 5 } = {}) {
  const args = [];
  for (let i = 0; i < count; i++) args.push('-l', '127.0.0.1:0');
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    // The child counts its fds: 3 + count sockets, plus the fd ls itself opens on /proc/self/fd.
    const { ms, stdout } = timeSync(process.execPath, [
      sockactBin,
      '-q',
      ...args,
      '--',
      'sh',
      '-c',
      'echo $LISTEN_FDS $(ls /proc/self/fd | wc -l)',
    ]);
    const [n, open] = stdout.trim().split(/\s+/).map(Number);
    if (n !== count || open !== count + 4) throw new Error(`child saw LISTEN_FDS=${n} and ${open} open fds`);
    samples.push(ms);
  }
  const ms = median(samples);
  return {
    name: `${count} listeners bound and passed (launch to child exit)`,
    rounds,
    medianMs: ms,
    target: '< 300 ms',
    pass: ms < 300,
  };
}

export async function rss() {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [sockactBin, '-q', '-l', `127.0.0.1:${port}`, '--', process.execPath, helloServer],
    {
      env: cleanEnv(),
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 200; i++) await firstResponse(port, performance.now() + 10_000);
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  child.kill('SIGTERM');
  await exited(child);
  return {
    name: 'sockact RSS with one child (after 200 requests)',
    rssMB: kb / 1024,
    target: '<= 50 MB',
    pass: kb / 1024 <= 50,
  };
}
