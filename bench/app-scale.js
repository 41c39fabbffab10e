// Issue 2 bench: 1000 inherited fds described (listenFds) and adopted (getListeners) in < 100 ms.
// The child times itself with performance.now() around the two calls only.
import { spawnSync } from 'node:child_process';
import { cleanEnv, dist, median, root, TRAMPOLINE } from './lib.js';

const { socket, bind, listenSocket, closeFd } = await import(dist('sys/index.js'));

export async function run({ count = 1000, rounds = 5 } = {}) {
  const fds = [];
  for (let i = 0; i < count; i++) {
    const fd = socket('inet', 'stream');
    bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
    listenSocket(fd, 16);
    fds.push(fd);
  }
  const script = `import { performance } from 'node:perf_hooks';
import { listenFds, getListeners } from 'sockact';
const t0 = performance.now(); const d = listenFds(); const t1 = performance.now();
const l = await getListeners(); const t2 = performance.now();
if (d.length !== ${count} || l.length !== ${count}) throw new Error('got ' + d.length + ' / ' + l.length);
console.log(JSON.stringify({ describe: t1 - t0, adopt: t2 - t1 }));
process.exit(0);`;
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const res = spawnSync('/bin/sh', [...TRAMPOLINE, process.execPath, '--input-type=module', '-e', script], {
      cwd: root,
      env: cleanEnv({ LISTEN_FDS: String(count) }),
      stdio: ['ignore', 'pipe', 'pipe', ...fds],
    });
    if (res.status !== 0) throw new Error(`scale child failed: ${res.stderr}`);
    samples.push(JSON.parse(String(res.stdout)));
  }
  fds.forEach(closeFd);
  const describe = median(samples.map((s) => s.describe));
  const adopt = median(samples.map((s) => s.adopt));
  return {
    name: `${count} inherited fds: describe + adopt`,
    rounds,
    describeMs: describe,
    adoptMs: adopt,
    totalMs: describe + adopt,
    target: 'total < 100 ms',
    pass: describe + adopt < 100,
  };
}
