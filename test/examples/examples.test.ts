// Each example runs through sockact (bin/sockact.js, the built command) the way its header says,
// and is talked to over the sockets sockact bound: TCP, UDP and UNIX, on loopback only. express
// and fastify are devDependencies for these tests only.
import dgram from 'node:dgram';
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
      const reply = new Promise<{ text: string; from: number }>((resolve) => client.once('message', (m, rinfo) => resolve({ text: m.toString(), from: rinfo.port })));
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
    const r = start(['-l', `${sock},name=admin,mode=0660`, '-l', '127.0.0.1:0,name=web', '--', process.execPath, example('admin')]);
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

  // The pool itself (--workers N) and the dev loop (--watch) come with the supervisor; until
  // then these show the programs start under plain sockact and serve.
  it('examples/workers serves on the inherited socket (one worker, under plain sockact)', async () => {
    const r = start(['-l', '127.0.0.1:0', '--', process.execPath, example('workers')]);
    const target = hostPort(await listeningOn(r));
    const pid = await appPid(r);
    expect(await get(target, '/?n=20')).toContain(`fib(20) = 6765 from worker pid ${pid}\n`);
    await stopsCleanly(r, pid);
  });

  it('examples/watch serves its message on the inherited socket (under plain sockact)', async () => {
    const r = start(['-l', '127.0.0.1:0', '--', process.execPath, example('watch')]);
    const target = hostPort(await listeningOn(r));
    const pid = await appPid(r);
    expect(await get(target)).toContain(`hello from the dev loop: edit examples/watch/message.txt (pid ${pid})\n`);
    await stopsCleanly(r, pid);
  });
});
