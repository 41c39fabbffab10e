#!/usr/bin/env node
// `npm start`: the point of sockact in a few seconds. sockact binds a port and supervises
// examples/hello on it; the demo sends a steady stream of requests (keep-alive and
// Connection: close) while it reloads the app three times and deploys one broken build, which
// is rolled back. Every event is one line; the last says how many requests failed (none).
// Then it keeps serving until Ctrl-C. PORT (default 8080) picks the port; PORT=0 any free one.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sockact = join(here, '..', 'bin', 'sockact.js');
const port = process.env.PORT ?? '8080';
const say = (line) => console.log(`demo: ${line}`);

// "The build": a file on disk that sockact starts. A deploy replaces it and reloads.
const dir = mkdtempSync(join(tmpdir(), 'sockact-demo-'));
const app = join(dir, 'app.mjs');
const control = join(dir, 'control.sock');
const good = `import ${JSON.stringify(join(here, 'hello', 'server.js'))};\n`;
const broken = "throw new Error('a deliberately broken build');\n";
writeFileSync(app, good);

const args = ['-l', `127.0.0.1:${port}`, '--control', control, '--', process.execPath, app];
say(`sockact ${args.join(' ')}`);
const child = spawn(process.execPath, [sockact, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
child.stderr.setEncoding('utf8').on('data', (d) => {
  log += d;
  if (process.env.DEMO_VERBOSE) process.stderr.write(d);
});
let stopping = false;
child.on('exit', (code, signal) => {
  rmSync(dir, { recursive: true, force: true });
  if (!stopping) process.stderr.write(log);
  say(`sockact ended (${signal ?? `exit ${code}`})`);
  process.exit(stopping ? 0 : code || 1);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    stopping = true;
    child.kill(sig);
  });
}

const waitFor = async (re) => {
  while (!re.test(log)) await new Promise((r) => setTimeout(r, 20));
  return re.exec(log);
};

/** `sockact reload --control PATH`: resolves with its exit code and the line it printed. */
const reload = () =>
  new Promise((resolve) => {
    const r = spawn(process.execPath, [sockact, 'reload', '--control', control], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    r.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    r.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    r.on('exit', (code) => resolve({ code, line: out.trim().replace(/^sockact: /, '') }));
  });

const url = `http://${(await waitFor(/listening on (\S+)/))[1]}/`;
await waitFor(/ready, generation 1/);
say(`serving ${url} (generation 1)`);

// The load: 8 clients in a loop, half keep-alive, half Connection: close, until told to stop.
const stats = { ok: 0, failed: 0, errors: new Map(), pids: new Set() };
let loading = true;
const client = async (keepAlive) => {
  const agent = new http.Agent({ keepAlive, maxSockets: 1 });
  while (loading) {
    await new Promise((resolve) => {
      const req = http.get(url, { agent, headers: keepAlive ? {} : { connection: 'close' } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d) => (body += d));
        res.on('end', () => {
          if (res.statusCode === 200) {
            stats.ok++;
            stats.pids.add(body.trim());
          } else stats.failed++;
          resolve();
        });
      });
      req.on('error', (err) => {
        stats.failed++;
        stats.errors.set(err.message, (stats.errors.get(err.message) ?? 0) + 1);
        resolve();
      });
    });
  }
  agent.destroy();
};
const clients = [true, true, true, true, false, false, false, false].map(client);
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

let reloads = 0;
let rolledBack = 0;
for (const step of ['reload', 'reload', 'broken', 'reload']) {
  await pause(1000);
  if (step === 'broken') {
    writeFileSync(app, broken);
    say('deploying a broken build and reloading...');
  }
  const { code, line } = await reload();
  if (code === 0) {
    reloads++;
    say(`reload: ${line}; ${stats.ok.toLocaleString('en')} requests so far, ${stats.failed} failed`);
  } else {
    rolledBack++;
    say(`rolled back: ${line}`);
    writeFileSync(app, good);
    say('restored the good build');
  }
}
await pause(1000);
loading = false;
await Promise.all(clients);
const errors = stats.errors.size ? ` (${[...stats.errors].map(([m, n]) => `${n}x ${m}`).join(', ')})` : '';
say(
  `${stats.ok.toLocaleString('en')} requests over ${reloads} reloads and ${rolledBack} ` +
    `rolled-back reload${rolledBack === 1 ? '' : 's'}: ${stats.failed} failed${errors}`,
);
say(
  `still serving: point a browser or curl at ${url}; try: ` +
    `node bin/sockact.js status --control ${control}; Ctrl-C stops`,
);
