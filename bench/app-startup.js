// Issue 2 bench: what importing sockact, calling listenFds() and adopting one listener adds to an
// app's start, against `server.listen({ fd: 3 })` alone. 20 paired runs, medians side by side.
import { cleanEnv, dist, median, paired, root, timeSync, TRAMPOLINE } from './lib.js';

const { socket, bind, listenSocket, closeFd } = await import(dist('sys/index.js'));

export async function run({ rounds = 20 } = {}) {
  const fd = socket('inet', 'stream');
  bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
  listenSocket(fd, 128);
  const bare = `import net from 'node:net'; const s = net.createServer(); s.listen({ fd: 3 }, () => s.close());`;
  const withSockact = `import net from 'node:net'; import { listen } from 'sockact';
const s = net.createServer(); await listen(s); s.close();`;
  // cwd is the package, so 'sockact' resolves as it does for a user: package.json exports.
  const opts = { cwd: root, env: cleanEnv({ LISTEN_FDS: '1' }), stdio: ['ignore', 'pipe', 'pipe', fd] };
  const { medians, times } = await paired(rounds, {
    bare: () => timeSync('/bin/sh', [...TRAMPOLINE, process.execPath, '--input-type=module', '-e', bare], opts).ms,
    sockact: () =>
      timeSync('/bin/sh', [...TRAMPOLINE, process.execPath, '--input-type=module', '-e', withSockact], opts).ms,
  });
  closeFd(fd);
  return {
    name: 'app start-up: import + listenFds() + adopt one listener',
    rounds,
    bareMs: medians.bare,
    sockactMs: medians.sockact,
    addedMs: medians.sockact - medians.bare,
    medianPairedDiffMs: median(times.bare.map((b, i) => times.sockact[i] - b)),
    target: 'added <= 15 ms',
    pass: medians.sockact - medians.bare <= 15,
  };
}
