// Render bench/results/latest.json as the Markdown table BENCHMARKS.md carries:
//   node bench/report.js > /tmp/table.md
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './lib.js';

const r = JSON.parse(readFileSync(join(root, 'bench', 'results', 'latest.json'), 'utf8'));
const ms = (x) => `${x.toFixed(1)} ms`;
const ok = (b) => (b ? 'met' : '**missed**');
const rows = [];
const add = (what, figure, target, pass) => rows.push(`| ${what} | ${figure} | ${target} | ${ok(pass)} |`);

const a = r['app-startup'];
if (a) add(`App start-up: import + listenFds() + adopt one listener (median of ${a.rounds} paired runs)`, `bare ${ms(a.bareMs)}, with sockact ${ms(a.sockactMs)}: **+${ms(a.addedMs)}** (median paired difference +${ms(a.medianPairedDiffMs)})`, '+15 ms at most', a.pass);
const s = r['app-scale'];
if (s) add(`1000 inherited fds described and adopted (median of ${s.rounds})`, `listenFds ${ms(s.describeMs)} + getListeners ${ms(s.adoptMs)} = **${ms(s.totalMs)}**`, 'under 100 ms', s.pass);
const l = r['launch-startup'];
if (l) add(`Launcher start-up: spawn to sockets bound, vs \`node -e 0\` (median of ${l.rounds} paired runs)`, `node ${ms(l.nodeMs)}, sockact ${ms(l.sockactMs)}: **+${ms(l.addedMs)}**`, '+40 ms at most', l.pass);
const t = r.ttfr;
if (t) add(`Time to first response of examples/hello (median of ${t.rounds} paired runs)`, `systemd-socket-activate ${ms(t.systemdSocketActivateMs)}, sockact ${ms(t.sockactMs)}: **${t.ratio.toFixed(2)}x**`, '2.5x at most', t.pass);
const k = r['listeners-1000'];
if (k) add(`1000 listeners bound and passed, launch to child exit (median of ${k.rounds})`, `**${ms(k.medianMs)}**`, 'under 300 ms', k.pass);
const m = r.rss;
if (m) add('sockact RSS with one child, after 200 requests', `**${m.rssMB.toFixed(1)} MB**`, '50 MB at most', m.pass);
const w = r.throughput;
const aa = r['throughput-aa'];
if (w?.keepAlive) {
  for (const [key, label] of [['keepAlive', 'keep-alive'], ['connectionClose', 'Connection: close']]) {
    const x = w[key];
    const floor = aa?.[key] ? `; A/A noise floor (two identical direct servers): ${aa[key].ratio.toFixed(3)}` : '';
    add(
      `Requests/s through sockact / app binding its own port, ${label} (medians of ${w.pairs} alternating pairs of ${w.seconds} s wrk runs, -t1 -c32)`,
      `direct ${Math.round(x.directRps)}, sockact ${Math.round(x.sockactRps)}: **${x.ratio.toFixed(3)}** (median pair ratio ${x.medianPairRatio.toFixed(3)}${floor}); app CPU per request ${x.cpuUsPerRequest.direct.toFixed(1)} vs ${x.cpuUsPerRequest.sockact.toFixed(1)} µs (${x.cpuRatio.toFixed(3)}); sockact's own CPU during the load ${x.launcherCpuMsDuringLoad} ms${x.errors.length ? `; errors: ${x.errors.join('; ')}` : '; no socket errors'}`,
      '0.98 at least',
      x.pass,
    );
  }
}
console.log(`Measured ${r.date} on ${r.cpus} cores, Node ${r.node}; NODE_EXTRA_CA_CERTS ${r.nodeExtraCaCerts}.\n`);
console.log('| what | figure | target | |\n| --- | --- | --- | --- |');
console.log(rows.join('\n'));
