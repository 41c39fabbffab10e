// `npm run bench`: every benchmark, side by side in one run; prints JSON and writes bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { extraCaCertsWasSet, root } from './lib.js';
import * as appStartup from './app-startup.js';
import * as appScale from './app-scale.js';
import * as drain from './drain.js';
import * as launch from './launch.js';
import * as migrate from './migrate.js';
import * as plainLaunch from './plain-launch.js';
import * as throughput from './throughput.js';
import * as supervise from './supervise.js';
import * as takeover from './takeover.js';
import * as prefix from './prefix.js';
import * as compileCache from './compile-cache.js';
import * as systemd from './systemd.js';

const only = process.argv.slice(2);
const benches = {
  'app-startup': () => appStartup.run(),
  'app-scale': () => appScale.run(),
  'launch-startup': () => launch.startup(),
  ttfr: () => launch.ttfr(),
  'listeners-1000': () => launch.thousand(),
  // Issue 15: the plain launch against the pre-supervisor launcher (SOCKACT_PRE_SUPERVISOR).
  'plain-launch': () => plainLaunch.run(),
  rss: () => launch.rss(),
  throughput: () => throughput.run(),
  // The noise floor of the line above: two identical servers, measured the same way.
  'throughput-aa': () => throughput.run({ kinds: ['direct', 'direct'] }),
  drain: () => drain.run(),
  // Issue 9: keep-alive connections handed to each new generation instead of closed.
  migrate: () => migrate.run(),
  // The supervisor (issue 6) and its chart (issue 10); `node bench/run.js supervise` runs these alone.
  'supervise-reload': () => supervise.reloadUnderLoad(),
  'supervise-storm': () => supervise.storm(),
  'supervise-latency': () => supervise.latency(),
  'supervise-workers': () => supervise.workers(),
  'supervise-leaks': () => supervise.leaks(),
  'supervise-idle': () => supervise.idle(),
  'supervise-chart': () => supervise.chart(),
  'supervise-cold': () => supervise.coldStart(),
  // sockact --takeover (issue 9): failed requests and hand-off times.
  takeover: () => takeover.run(),
  // --prefix (issue 14): lines lost, the child's rate against no sockact, sockact's RSS growth.
  prefix: () => prefix.run(),
  // Issue 17: NODE_COMPILE_CACHE and a new generation's start, on Node 22 and 24 (and pm2's reload).
  'compile-cache': () => compileCache.run(),
  // Issue 16: under a private, real systemd (root, unshare, cgroup2; else skipped with the reason).
  systemd: () => systemd.run(),
};

const results = {
  date: new Date().toISOString(),
  node: process.version,
  nodeExtraCaCerts: extraCaCertsWasSet ? 'set in the shell, unset for every measured child' : 'not set',
  cpus: (await import('node:os')).cpus().length,
};
for (const [name, fn] of Object.entries(benches)) {
  // A word that names no bench (supervise) selects every bench named WORD-*.
  if (only.length && !only.some((o) => o === name || (!(o in benches) && name.startsWith(`${o}-`)))) continue;
  process.stderr.write(`bench: ${name}...\n`);
  // Other work on this shared machine moves every figure: the 1-minute load average is kept with each.
  const loadBefore = loadavg()[0];
  try {
    results[name] = await fn();
    results[name].loadAverage = { before: loadBefore, after: loadavg()[0] };
  } catch (err) {
    results[name] = { error: String(err.stack ?? err) };
  }
  process.stderr.write(`${JSON.stringify(results[name])}\n`);
}
supervise.cleanup();
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
