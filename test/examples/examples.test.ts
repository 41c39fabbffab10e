// Each example runs through sockact (bin/sockact.js, the built command) the way its header says,
// and is talked to over the sockets sockact bound: TCP, UDP and UNIX, on loopback only. express
// and fastify are devDependencies for these tests only.
import dgram from 'node:dgram';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exchange, hostPort, listeningOn, perTest, ROOT, sockact, type Run } from '../_support/launcher.js';

const { defer, dir } = perTest();

function example(name: string): string {
  return join(ROOT, 'examples', name, 'server.js');
}

/** Start sockact with these arguments and stop it (SIGTERM) after the test. */
function start(args: string[]): Run {
  const r = sockact(args);
  defer(() => r.child.kill('SIGTERM'));
  return r;
}

/** An HTTP/1.0 GET; the whole answer, headers and body. */
function get(target: { host: string; port: number } | { path: string }, path = '/'): Promise<string> {
  return exchange(target, `GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`);
}

/** The app's pid, from sockact's "started ... as pid N" line. */
async function appPid(r: Run): Promise<number> {
  return Number((await r.waitFor('stderr', /started .* as pid (\d+)/))[1]);
}

/** SIGTERM reaches the app through sockact, the app drains and exits 0, and so does sockact. */
async function stopsCleanly(r: Run, pid: number): Promise<void> {
  r.child.kill('SIGTERM');
  expect(await r.exited).toEqual({ code: 0, signal: null });
  expect(r.stderr).toContain(`pid ${pid} exited with code 0`);
}

describe('examples, run through sockact', () => {
  // [example, what it answers on GET /]
  const http: [string, (pid: number) => string][] = [
    ['hello', (pid) => `hello from pid ${pid}\n`],
    ['express', (pid) => `hello from express, pid ${pid}\n`],
    ['fastify', (pid) => `hello from fastify, pid ${pid}\n`],
  ];
  for (const [name, body] of http) {
    it(`examples/${name} serves HTTP on the socket sockact bound`, async () => {
      const r = start(['-l', '127.0.0.1:0', '--', process.execPath, example(name)]);
      const target = hostPort(await listeningOn(r));
      const pid = await appPid(r);
      const answer = await get(target);
      expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(answer.endsWith(`\r\n\r\n${body(pid)}`)).toBe(true);
      await stopsCleanly(r, pid);
    });
  }

  it('examples/udp echoes datagrams on the UDP socket sockact bound (-l ADDR,dgram)', async () => {
    const r = start(['-l', '127.0.0.1:0,dgram', '--', process.execPath, example('udp')]);
    const { host, port } = hostPort(await listeningOn(r));
    const pid = await appPid(r);
    await r.waitFor('stderr', /udp: pid \d+ echoing on 127\.0\.0\.1:\d+/);
    const client = dgram.createSocket('udp4');
    defer(() => client.close());
    const replies: string[] = [];
    for (const word of ['one', 'two', 'three']) {
      const reply = new Promise<{ text: string; from: number }>((resolve) =>
        client.once('message', (m, rinfo) => resolve({ text: m.toString(), from: rinfo.port })),
      );
      client.send(word, port, host);
      const { text, from } = await reply;
      // The answer comes from the port sockact bound: the app replies through the adopted socket.
      expect(from).toBe(port);
      replies.push(text);
    }
    expect(replies).toEqual(['ONE', 'TWO', 'THREE']);
    await stopsCleanly(r, pid);
  });

  it('examples/admin serves web on TCP and /status on a UNIX socket, each found by its name', async () => {
    const sock = join(dir(), 'admin.sock');
    // The admin socket first: names, not positions, decide which server gets which fd.
    const r = start([
      '-l',
      `${sock},name=admin,mode=0660`,
      '-l',
      '127.0.0.1:0,name=web',
      '--',
      process.execPath,
      example('admin'),
    ]);
    const web = hostPort(await listeningOn(r, 4));
    const pid = await appPid(r);
    expect(await get(web)).toContain(`hello from pid ${pid}\n`);
    expect(await get(web)).toContain(`hello from pid ${pid}\n`);
    const status = await get({ path: sock }, '/status');
    expect(status).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const json = JSON.parse(status.slice(status.indexOf('\r\n\r\n') + 4));
    expect(json).toMatchObject({ pid, served: 2 });
    // The admin endpoint is not on the public port.
    expect(await get(web, '/status')).toContain(`hello from pid ${pid}\n`);
    await stopsCleanly(r, pid);
  });

  it(
    'examples/workers under --workers 2: ' +
      'both workers serve the one socket, as SOCKACT_WORKER 0 and 1, and stop cleanly',
    async () => {
      const r = start(['-l', '127.0.0.1:0', '--workers', '2', '--', process.execPath, example('workers')]);
      const target = hostPort(await listeningOn(r));
      await r.waitFor('stderr', /2 of 2 workers ready, generation 1/);
      // The pids sockact started, by worker number.
      const pids = new Map(
        [...r.stderr.matchAll(/started .* as pid (\d+) \(worker (\d+), generation 1\)/g)].map((m) => [
          m[2]!,
          Number(m[1]),
        ]),
      );
      expect([...pids.keys()].sort()).toEqual(['0', '1']);
      // One accept queue shared by two processes: the kernel decides who answers, so ask until both
      // have (bounded: at most 40 rounds of 8 at once).
      const seen = new Map<string, number>();
      for (let round = 0; round < 40 && seen.size < 2; round++) {
        const answers = await Promise.all(Array.from({ length: 8 }, () => get(target, '/?n=20')));
        for (const a of answers) {
          const m = /fib\(20\) = 6765 from worker (\d) \(pid (\d+)\)\n$/.exec(a);
          expect(m, a).not.toBeNull();
          seen.set(m![1]!, Number(m![2]));
        }
      }
      // Each worker answered, and is the process sockact started under that number.
      expect(seen).toEqual(pids);
      r.child.kill('SIGTERM');
      // With workers, a requested stop ends 0 once both have drained.
      expect(await r.exited).toEqual({ code: 0, signal: null });
      for (const pid of pids.values())
        expect(r.stderr).toMatch(new RegExp(`pid ${pid} \\(worker \\d, generation 1\\) exited with code 0`));
    },
  );

  it(
    'examples/watch under --watch DIR: a save reloads it (a new pid answers with the new text); ' +
      'a broken save keeps the last good one serving',
    async () => {
      // A copy, so the test edits its own files; its node_modules/sockact is this checkout (the
      // example imports 'sockact'), and --watch ignores node_modules.
      const d = dir();
      for (const f of ['server.js', 'message.txt']) copyFileSync(join(ROOT, 'examples', 'watch', f), join(d, f));
      mkdirSync(join(d, 'node_modules'));
      symlinkSync(ROOT, join(d, 'node_modules', 'sockact'));
      const r = start([
        '-l',
        '127.0.0.1:0',
        '--watch',
        d,
        '--watch-debounce',
        '100ms',
        '--',
        process.execPath,
        join(d, 'server.js'),
      ]);
      const target = hostPort(await listeningOn(r));
      const first = await appPid(r);
      await r.waitFor('stderr', /ready, generation 1/);
      expect(await get(target)).toContain(`hello from the dev loop: edit examples/watch/message.txt (pid ${first})\n`);

      writeFileSync(join(d, 'message.txt'), 'second version\n');
      await r.waitFor('stderr', /reloaded: generation 2 ready/);
      const second = Number(/pid (\d+) \(generation 2\) ready/.exec(r.stderr)![1]);
      expect(second).not.toBe(first);
      // The old one exits once the new one is ready; from then on only the new one answers.
      await r.waitFor('stderr', new RegExp(`pid ${first} .*exited with code 0`));
      expect(await get(target)).toContain(`second version (pid ${second})\n`);

      // A broken save: the new generation dies at start-up, the last good one keeps serving.
      const good = readFileSync(join(d, 'server.js'), 'utf8');
      writeFileSync(join(d, 'server.js'), `${good}\nthis is not JavaScript (\n`);
      await r.waitFor('stderr', /reload failed: .*generation 2 keeps serving/);
      expect(await get(target)).toContain(`second version (pid ${second})\n`);

      // Fixed again: the next save reloads.
      writeFileSync(join(d, 'server.js'), good);
      await r.waitFor('stderr', /reloaded: generation 4 ready/);
      const fourth = Number(/pid (\d+) \(generation 4\) ready/.exec(r.stderr)![1]);
      await r.waitFor('stderr', new RegExp(`pid ${second} .*exited with code 0`));
      expect(await get(target)).toContain(`second version (pid ${fourth})\n`);
    },
  );
});
