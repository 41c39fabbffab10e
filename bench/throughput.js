// Issue 3 bench: serving through sockact costs nothing per request. wrk against examples/hello
// launched by sockact, and the same app binding its own port; keep-alive and Connection: close.
// Bounded: loopback only, a fixed duration per run, a few runs.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { cleanEnv, helloServer, median, sockactBin } from './lib.js';
import { freePort } from './launch.js';

function waitListening(port) {
  return new Promise((resolve) => {
    const tryOnce = () =>
      net
        .connect(port, '127.0.0.1', function () {
          this.destroy();
          resolve();
        })
        .on('error', () => setTimeout(tryOnce, 20));
    tryOnce();
  });
}

function wrk(port, close, seconds) {
  const args = ['-t1', '-c32', `-d${seconds}s`, '--latency'];
  if (close) args.push('-H', 'Connection: close');
  const r = spawnSync('wrk', [...args, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)[1]);
  const errors = /Socket errors: (.*)/.exec(r.stdout)?.[1] ?? 'none';
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  return { rps, errors, non2xx };
}

async function serve(kind) {
  const port = await freePort();
  const node = process.execPath;
  const child =
    kind === 'sockact'
      ? spawn(node, [sockactBin, '-q', '-l', `127.0.0.1:${port}`, '--', node, helloServer], { env: cleanEnv(), stdio: 'ignore' })
      : spawn(node, [helloServer], { env: cleanEnv({ PORT: String(port), HOST: '127.0.0.1' }), stdio: 'ignore' });
  await waitListening(port);
  return {
    port,
    stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM')))),
  };
}

export async function run({ rounds = 4, seconds = 4 } = {}) {
  // An even number of rounds, alternating which server goes first, so neither gets the warm slot more often.
  if (spawnSync('wrk', ['--version']).error) return { name: 'throughput', skipped: 'wrk is not installed (apt-get install wrk)' };
  const out = { name: 'requests/s through sockact vs the app binding its own port (wrk -t1 -c32)', rounds, seconds };
  for (const close of [false, true]) {
    const rps = { direct: [], sockact: [] };
    const errors = [];
    for (let i = 0; i < rounds; i++) {
      for (const kind of i % 2 ? ['sockact', 'direct'] : ['direct', 'sockact']) {
        const s = await serve(kind);
        wrk(s.port, close, 1); // warm-up
        const r = wrk(s.port, close, seconds);
        rps[kind].push(r.rps);
        if (r.errors !== 'none' || r.non2xx) errors.push(`${kind}: ${r.errors}, non2xx ${r.non2xx}`);
        await s.stop();
      }
    }
    const key = close ? 'connectionClose' : 'keepAlive';
    const d = median(rps.direct);
    const s = median(rps.sockact);
    out[key] = { directRps: d, sockactRps: s, ratio: s / d, errors, target: 'ratio >= 0.98', pass: s / d >= 0.98 };
  }
  return out;
}
