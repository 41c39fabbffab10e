// `npm run bench`: every benchmark, side by side in one run; prints JSON and writes bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extraCaCertsWasSet, root } from './lib.js';
import * as appStartup from './app-startup.js';
import * as appScale from './app-scale.js';
import * as drain from './drain.js';
import * as launch from './launch.js';
import * as throughput from './throughput.js';

const only = process.argv.slice(2);
const benches = {
  'app-startup': () => appStartup.run(),
  'app-scale': () => appScale.run(),
  'launch-startup': () => launch.startup(),
  ttfr: () => launch.ttfr(),
  'listeners-1000': () => launch.thousand(),
  rss: () => launch.rss(),
  throughput: () => throughput.run(),
  // The noise floor of the line above: two identical servers, measured the same way.
  'throughput-aa': () => throughput.run({ kinds: ['direct', 'direct'] }),
  drain: () => drain.run(),
};

const results = {
  date: new Date().toISOString(),
  node: process.version,
  nodeExtraCaCerts: extraCaCertsWasSet ? 'set in the shell, unset for every measured child' : 'not set',
  cpus: (await import('node:os')).cpus().length,
};
for (const [name, fn] of Object.entries(benches)) {
  if (only.length && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name}...\n`);
  try {
    results[name] = await fn();
  } catch (err) {
    results[name] = { error: String(err.stack ?? err) };
  }
  process.stderr.write(`${JSON.stringify(results[name])}\n`);
}
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
