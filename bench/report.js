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
if (a)
  add(
    `App start-up: import + listenFds() + adopt one listener (median of ${a.rounds} paired runs)`,
    `bare ${ms(a.bareMs)}, with sockact ${ms(a.sockactMs)}: ` +
      `**+${ms(a.addedMs)}** (median paired difference +${ms(a.medianPairedDiffMs)})`,
    '+15 ms at most',
    a.pass,
  );
const s = r['app-scale'];
if (s)
  add(
    `1000 inherited fds described and adopted (median of ${s.rounds})`,
    `listenFds ${ms(s.describeMs)} + getListeners ${ms(s.adoptMs)} = **${ms(s.totalMs)}**`,
    'under 100 ms',
    s.pass,
  );
const l = r['launch-startup'];
if (l)
  add(
    `Launcher start-up: spawn to sockets bound, vs \`node -e 0\` (median of ${l.rounds} paired runs)`,
    `node ${ms(l.nodeMs)}, sockact ${ms(l.sockactMs)}: **+${ms(l.addedMs)}**`,
    '+40 ms at most',
    l.pass,
  );
const t = r.ttfr;
if (t)
  add(
    `Time to first response of examples/hello (median of ${t.rounds} paired runs)`,
    `systemd-socket-activate ${ms(t.systemdSocketActivateMs)}, sockact ${ms(t.sockactMs)}: **${t.ratio.toFixed(2)}x**`,
    '2.5x at most',
    t.pass,
  );
const k = r['listeners-1000'];
if (k)
  add(
    `1000 listeners bound and passed, launch to child exit (median of ${k.rounds})`,
    `**${ms(k.medianMs)}**`,
    'under 300 ms',
    k.pass,
  );
const m = r.rss;
if (m) add('sockact RSS with one child, after 200 requests', `**${m.rssMB.toFixed(1)} MB**`, '50 MB at most', m.pass);
const w = r.throughput;
const aa = r['throughput-aa'];
if (w?.keepAlive) {
  for (const [key, label] of [
    ['keepAlive', 'keep-alive'],
    ['connectionClose', 'Connection: close'],
  ]) {
    const x = w[key];
    const floor = aa?.[key] ? `; A/A noise floor (two identical direct servers): ${aa[key].ratio.toFixed(3)}` : '';
    add(
      `Requests/s through sockact / app binding its own port, ${label} ` +
        `(medians of ${w.pairs} alternating pairs of ${w.seconds} s wrk runs, -t1 -c32)`,
      `direct ${Math.round(x.directRps)}, sockact ${Math.round(x.sockactRps)}: ` +
        `**${x.ratio.toFixed(3)}** (median pair ratio ${x.medianPairRatio.toFixed(3)}${floor}); ` +
        `app CPU per request ${x.cpuUsPerRequest.direct.toFixed(1)} vs ${x.cpuUsPerRequest.sockact.toFixed(1)} µs ` +
        `(${x.cpuRatio.toFixed(3)}); sockact's own CPU during the load ` +
        `${x.launcherCpuMsDuringLoad} ms${x.errors.length ? `; errors: ${x.errors.join('; ')}` : '; no socket errors'}`,
      '0.98 at least',
      x.pass,
    );
  }
}
console.log(`Measured ${r.date} on ${r.cpus} cores, Node ${r.node}; NODE_EXTRA_CA_CERTS ${r.nodeExtraCaCerts}.\n`);
console.log('| what | figure | target | |\n| --- | --- | --- | --- |');
console.log(rows.join('\n'));

// ---- the supervisor (issue 6): a table of its own, under "Supervisor" in BENCHMARKS.md ----
const sup = [];
const addS = (what, figure, target, pass) =>
  sup.push(`| ${what} | ${figure} | ${target} | ${pass === undefined ? '' : ok(pass)} |`);
const n = (x) => Math.round(x).toLocaleString('en-US');
const f2 = (x) => x.toFixed(2);
const errs = (e) =>
  Object.entries(e)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k} ${n(v)}`)
    .join(', ') || 'none';
const ru = r['supervise-reload'];
if (ru) {
  for (const [key, label] of [
    ['keepAlive', 'keep-alive'],
    ['connectionClose', 'Connection: close'],
  ]) {
    for (const [sys, app] of [
      ['sockact', 'the Node app'],
      ['sockact-go', 'the Go app'],
    ]) {
      if (ru[sys]?.skipped && key === 'keepAlive')
        addS(`sockact, ${app}`, ru[sys].skipped, '0 failed; p99 <= 1.5x; completed >= 0.9x', false);
      const sk = ru[sys]?.[key];
      if (!sk) continue;
      addS(
        `sockact, ${app}, a reload every second, ${label} (wrk -t2 -c32 -d${ru.seconds}s)`,
        `**${n(sk.reloads.failed)} failed** (${errs(sk.reloads.errors)}) of ${n(sk.reloads.requests)} ` +
          `completed over ${sk.reloads.reloads.ok} reloads (${sk.reloads.reloads.failed} failed); ` +
          `p99 ${ms(sk.reloads.p99Ms)} vs ${ms(sk.noReloads.p99Ms)} without reloads: ` +
          `**${f2(sk.p99Ratio)}x**; completed **${f2(sk.completedRatio)}x** (${n(sk.noReloads.requests)} ` +
          `without reloads${sk.noReloads.failed ? `, which had ${n(sk.noReloads.failed)} failed` : ''})`,
        '0 failed; p99 <= 1.5x; completed >= 0.9x',
        sk.pass,
      );
    }
    const nv = ru.naive?.[key];
    if (nv)
      addS(
        `naive restart (stop the app, start one that binds the port itself) every second, ${label}`,
        `**${n(nv.reloads.failed)} failed** (${errs(nv.reloads.errors)}) ` +
          `of ${n(nv.reloads.requests)} completed, ${nv.reloads.reloads.ok} restarts`,
        'for comparison',
        undefined,
      );
    for (const mode of ['fork', 'cluster']) {
      const pm = ru[`pm2-${mode}`];
      if (pm?.skipped) {
        if (key === 'keepAlive') addS(`pm2 ${mode} mode`, pm.skipped, 'for comparison', undefined);
        continue;
      }
      const x = pm?.[key];
      if (x) {
        addS(
          `pm2 ${ru.pm2Version} ${mode} mode${mode === 'cluster' ? ' (-i 1)' : ''}, ` +
            `\`pm2 reload\` every second (skipped while one runs), ${label}`,
          `**${n(x.reloads.failed)} failed** (${errs(x.reloads.errors)}) of ${n(x.reloads.requests)} ` +
            `completed over ${x.reloads.reloads.ok} reloads; p99 ${f2(x.p99Ratio)}x, ` +
            `completed ${f2(x.completedRatio)}x of its own run without reloads ` +
            `(${n(x.noReloads.requests)}${x.noReloads.failed ? `, ${n(x.noReloads.failed)} failed` : ''})`,
          'for comparison',
          undefined,
        );
      }
    }
  }
}
const st = r['supervise-storm'];
if (st) {
  addS(
    `Reload storm: ${st.reloadsAsked} SIGHUPs in 10 s under ` +
      `keep-alive load (wrk -t2 -c32), every 3rd app start exits 1`,
    `**${n(st.failed)} failed** (${errs(st.errors)}) of ${n(st.requests)}; ` +
      `${st.appStarts} app starts, ${st.reloadsSucceeded} reloads succeeded, ${st.reloadsFailed} rolled back; ` +
      `afterwards **${st.servingAfter} serving** generation, ${st.childrenAfter} child, **${st.zombies} zombies**, ` +
      `fds **${st.fdsBefore} -> ${st.fdsAfter}**`,
    '0 failed, 1 serving, 0 zombies, fds unchanged',
    st.pass,
  );
}
const la = r['supervise-latency'];
if (la) {
  addS(
    `Reload latency: SIGHUP to "stopping pid N", minus the app's own spawn-to-READY (median of ${la.rounds})`,
    `SIGHUP to stopping ${ms(la.medianTotalMs)}, app ready in ${ms(la.medianReadyMs)}: ` +
      `**${ms(la.medianOverheadMs)}** (max ${ms(la.maxOverheadMs)}; ` +
      `SIGHUP to the "started" line ${ms(la.medianSighupToStartedLineMs)})`,
    'under 50 ms',
    la.pass,
  );
}
const wk = r['supervise-workers'];
if (wk?.connectionClose) {
  const c = wk.connectionClose;
  const k = wk.keepAlive;
  addS(
    `\`--workers 2\` vs Node's cluster module with 2 round-robin workers, Connection: close ` +
      `(medians of ${wk.pairs} alternating pairs of ${wk.seconds} s, wrk -t2 -c32, unpinned)`,
    `cluster ${n(c.clusterRps)}/s, sockact ${n(c.sockactRps)}/s: ` +
      `**${f2(c.ratio)}x**${k ? ` (keep-alive: ${n(k.clusterRps)} vs ${n(k.sockactRps)}, ${f2(k.ratio)}x)` : ''}`,
    '1.8x at least',
    c.ratio >= 1.8,
  );
  addS(
    'Balance of `--workers 2`: requests of the busier worker / the other (median run)',
    `Connection: close **${f2(c.balance.sockact)}**, keep-alive **${f2(k.balance.sockact)}** ` +
      `(cluster round robin: ${f2(c.balance.cluster)}, ${f2(k.balance.cluster)})`,
    '1.1 at most',
    c.balance.sockact <= 1.1 && k.balance.sockact <= 1.1,
  );
}
const lk = r['supervise-leaks'];
if (lk) {
  addS(
    `${n(lk.reloads)} reloads one after another (sh + systemd-notify --ready, no load; ${lk.seconds.toFixed(0)} s)`,
    `RSS ${lk.rssBeforeMB.toFixed(1)} -> ${lk.rssAfterMB.toFixed(1)} MB: **+${lk.growthMB.toFixed(1)} MB** ` +
      `(at ${Object.entries(lk.rssAtMB)
        .map(([i, v]) => `${i}: ${v.toFixed(1)}`)
        .join(', ')})` +
      `${
        lk.rssAfterIdleMB !== undefined
          ? `, ${lk.rssAfterIdleMB.toFixed(1)} MB after ${lk.idleAfterSeconds} s idle ` +
            `(+${lk.growthAfterIdleMB.toFixed(1)} MB)`
          : ''
      }; ` +
      `fds **${lk.fdsBefore} -> ${lk.fdsAfter}**; ${lk.childrenAfter} child, ${lk.zombies} zombies, ` +
      `${lk.failedReloads} failed reloads`,
    'RSS +2 MB at most; fds unchanged',
    lk.pass,
  );
}
const cs = r['supervise-cold'];
if (cs && !cs.skipped) {
  const line = (x) => x.rps.map((v, i) => `${n(v)} (${f2(x.ofLast[i])}x)`).join(', ');
  addS(
    `A fresh app's first ${cs.seconds} seconds, requests/s per second ` +
      `from its first accept (wrk -t2 -c32, medians of ${cs.rounds} starts)`,
    `Node app: ${line(cs.node)}` +
      `${cs.go?.rps ? `; Go app: ${line(cs.go)}` : cs.go?.skipped ? `; Go app: ${cs.go.skipped}` : ''}`,
    'what each reload starts from',
    undefined,
  );
}
const id = r['supervise-idle'];
if (id) {
  const w = (x) => `${x.cpuMs} ms CPU (${x.runMs.toFixed(1)} ms run time, ${x.timeslices} wake-ups)`;
  addS(
    `Idle with one child, ${id.seconds} s`,
    `first ${id.seconds} s after start: ${w(id.firstWindow)}; next ${id.seconds} s: **${w(id.secondWindow)}**`,
    'no CPU',
    id.secondWindow.timeslices === 0,
  );
  addS('sockact RSS with one child (the supervisor)', `**${id.rssMB.toFixed(1)} MB**`, '50 MB at most', id.rssMB <= 50);
}
if (sup.length) {
  console.log('\n### Supervisor\n');
  console.log('| what | figure | target | |\n| --- | --- | --- | --- |');
  console.log(sup.join('\n'));
}
