// Issue 15: a plain launch pays only for what it uses. Four paired comparisons in one run, every
// child without NODE_EXTRA_CA_CERTS (lib.js cleanEnv):
// - the whole lifecycle of `sockact -q -l 127.0.0.1:0 -- /bin/true` against the launcher as it
//   was before the supervisor (SOCKACT_PRE_SUPERVISOR: its bin/sockact.js, from a worktree of the
//   commit before "sockact supervises", built with npm run build; BENCHMARKS.md says how);
// - the program's exec chain with and without setpriv --pdeathsig (which every launch now adds);
// - sockets bound (the "listening on" line) against `node -e 0`, and the pre-supervisor's beside;
// - the first HTTP response of examples/hello against systemd-socket-activate;
// - an app's `import { listenFds } from 'sockact'` + listenFds() against an empty ES module file,
//   not activated (the fallback path every app takes outside systemd; the pre-supervisor build's
//   bundle beside it) and activated (one socket); against an empty `-e ''`; and against the import
//   of an empty package (what Node's loader costs any package), which leaves sockact's own part.
// The targets were set on a machine where `node -e 0` took 26 ms: where it takes longer, the
// figures against the pre-supervisor build, measured in the same rounds, say what changed.
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { timeToBound, ttfrOnce } from './launch.js';
import { cleanEnv, dist, helloServer, median, paired, root, sockactBin, timeSync, TRAMPOLINE } from './lib.js';

const node = process.execPath;

function preSupervisorBin() {
  const bin = process.env.SOCKACT_PRE_SUPERVISOR;
  if (!bin || !existsSync(bin))
    throw new Error('set SOCKACT_PRE_SUPERVISOR to the bin/sockact.js of a build of the commit before the supervisor');
  return bin;
}

const lifecycle = (bin) => timeSync(node, [bin, '-q', '-l', '127.0.0.1:0', '--', '/bin/true']).ms;

function summary(times, a, b) {
  const ma = median(times[a]);
  const mb = median(times[b]);
  return {
    [a]: ma,
    [b]: mb,
    added: mb - ma,
    ratio: mb / ma,
    medianPairedDiff: median(times[a].map((x, i) => times[b][i] - x)),
  };
}

export async function run({ rounds = 15 } = {}) {
  const pre = preSupervisorBin();
  const out = { rounds };

  const l = await paired(rounds, { pre: () => lifecycle(pre), now: () => lifecycle(sockactBin) });
  out.lifecycle = { ...summary(l.times, 'pre', 'now'), target: 'within 5% of the pre-supervisor launcher' };
  out.lifecycle.pass = out.lifecycle.ratio <= 1.05;

  // The program's exec chain: the trampoline alone (as before the supervisor), and with setpriv's
  // --pdeathsig (a program gets SIGTERM when sockact dies), which every launch now adds.
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (setpriv) {
    const e = await paired(rounds, {
      trampoline: () => timeSync('/bin/sh', ['-c', 'exec "$0"', '/bin/true']).ms,
      withSetpriv: () => timeSync('/bin/sh', ['-c', `exec ${setpriv} --pdeathsig TERM -- "$0"`, '/bin/true']).ms,
    });
    out.execChain = summary(e.times, 'trampoline', 'withSetpriv');
  }

  const bound = (bin) => timeToBound(['-l', '127.0.0.1:0', '--', 'sleep', '10'], bin);
  const b = await paired(rounds, {
    node: () => timeSync(node, ['-e', '0']).ms,
    pre: () => bound(pre),
    bound: () => bound(sockactBin),
  });
  out.bound = { ...summary(b.times, 'node', 'bound'), target: 'at most +25 ms over node -e 0' };
  out.bound.pass = out.bound.added <= 25;
  out.boundPre = summary(b.times, 'node', 'pre');

  const f = await paired(rounds, {
    ssa: () => ttfrOnce('systemd-socket-activate', (p) => ['-l', `127.0.0.1:${p}`, node, helloServer]),
    sockact: () => ttfrOnce(node, (p) => [sockactBin, '-q', '-l', `127.0.0.1:${p}`, '--', node, helloServer]),
  });
  out.firstResponse = { ...summary(f.times, 'ssa', 'sockact'), target: 'at most 2.0x systemd-socket-activate' };
  out.firstResponse.pass = out.firstResponse.ratio <= 2.0;

  out.appImport = await appImport(rounds);
  return out;
}

/**
 * import + listenFds() vs an empty ES module. Every program is a file run by `node FILE`, so the
 * baseline is an empty .mjs file: Node's ES module loader (resolving and reading a file, ~8 ms on
 * Node 20) is work any such app does, with or without sockact. The same against an empty
 * `--input-type=module -e ''` (which skips that loader work, so it charges it to the import) is
 * reported beside it. 'sockact' resolves by package name through the exports map.
 */
async function appImport(rounds) {
  const { socket, bind, listenSocket, closeFd } = await import(dist('sys/index.js'));
  const fd = socket('inet', 'stream');
  bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
  listenSocket(fd, 128);
  const dir = mkdtempSync(join(tmpdir(), 'sockact-bench-import-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'sockact'));
  // What any package's import costs (Node's resolver, package.json, reading and linking a file):
  // a package whose one module is an empty listenFds(), imported the same way.
  const pkg = join(dir, 'node_modules', 'empty-package');
  mkdirSync(pkg);
  writeFileSync(join(pkg, 'package.json'), '{ "name": "empty-package", "type": "module", "exports": "./index.js" }\n');
  writeFileSync(join(pkg, 'index.js'), 'export function listenFds() {\n  return [];\n}\n');
  // The same import from the pre-supervisor build, by path (its package is not 'sockact' here).
  const preBundle = join(dirname(dirname(preSupervisorBin())), 'dist/src/index.bundle.js');
  const files = {
    empty: '',
    app: `import { listenFds } from 'sockact'; listenFds();\n`,
    emptyPackage: `import { listenFds } from 'empty-package'; listenFds();\n`,
    pre: `import { listenFds } from ${JSON.stringify(preBundle)}; listenFds();\n`,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `${name}.mjs`), text);
  const run = (args, env = {}) => {
    const opts = { cwd: dir, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe', fd] };
    return timeSync('/bin/sh', [...TRAMPOLINE, node, ...args], opts).ms;
  };
  const r = await paired(rounds, {
    evalEmpty: () => run(['--input-type=module', '-e', '']),
    empty: () => run(['empty.mjs']),
    emptyPackage: () => run(['emptyPackage.mjs']),
    pre: () => run(['pre.mjs']),
    plain: () => run(['app.mjs']),
    emptyActivated: () => run(['empty.mjs'], { LISTEN_FDS: '1' }),
    activated: () => run(['app.mjs'], { LISTEN_FDS: '1' }),
  });
  closeFd(fd);
  rmSync(dir, { recursive: true, force: true });
  const notActivated = summary(r.times, 'empty', 'plain');
  return {
    notActivated,
    overEvalEmpty: summary(r.times, 'evalEmpty', 'plain'),
    overEmptyPackage: summary(r.times, 'emptyPackage', 'plain'),
    preSupervisor: summary(r.times, 'empty', 'pre'),
    activated: summary(r.times, 'emptyActivated', 'activated'),
    target: 'at most +10 ms over an empty ES module',
    pass: notActivated.added <= 10,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rounds = Number(process.env.ROUNDS ?? 15);
  console.log(JSON.stringify(await run({ rounds }), null, 2));
}
