// Shared helpers for the benchmarks: medians, paired runs, a clean environment, and sockets made
// through sockact's own OS seam (dist/src/sys), so a bench never binds through a Node server handle.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const dist = (p) => join(root, 'dist', 'src', p);
export const sockactBin = join(root, 'bin', 'sockact.js');
export const helloServer = join(root, 'examples', 'hello', 'server.js');

/** NODE_EXTRA_CA_CERTS adds ~35 ms to every Node start on these machines: benchmarks run without it. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  for (const k of Object.keys(env)) if (/^(LISTEN_|NOTIFY_SOCKET|WATCHDOG_)/.test(k)) delete env[k];
  return { ...env, ...extra };
}
export const extraCaCertsWasSet = Boolean(process.env.NODE_EXTRA_CA_CERTS);

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Run `fns` (name -> () => ms) `rounds` times, alternating the order each round; medians and paired differences. */
export async function paired(rounds, fns) {
  const names = Object.keys(fns);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 ? [...names].reverse() : names;
    for (const n of order) times[n].push(await fns[n]());
  }
  const medians = Object.fromEntries(names.map((n) => [n, median(times[n])]));
  return { times, medians };
}

/** Wall time of a synchronous child run, in ms. Throws if it fails. */
export function timeSync(cmd, args, opts = {}) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return { ms, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** The sh trampoline that makes LISTEN_PID exactly the program's pid (docs/protocol.md 13). */
export const TRAMPOLINE = ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"'];
