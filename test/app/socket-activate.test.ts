// A launcher nobody here wrote: systemd-socket-activate binds, waits for the first connection,
// then execs our app (examples/hello or the fixture) with the sockets at fd 3...
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { wrap, type Child } from '../_support/child.js';
import { httpGet, type HttpTarget } from '../_support/http.js';
import { onFreePort, PORT_TAKEN } from '../_support/ports.js';
import { abstractName, fileTempDir } from '../_support/tmp.js';
import { FIXTURE, ROOT } from './_helpers.js';

const dir = fileTempDir();
const HELLO = path.join(ROOT, 'examples/hello/server.js');

/**
 * Start systemd-socket-activate with `args(port)` and wait until it listens on every -l. It refuses
 * port 0, so it gets a number: one taken in between (another test) makes it exit, and onFreePort
 * tries a new one.
 */
function socketActivate(args: (port: number) => string[], program: string[]): Promise<{ child: Child; port: number }> {
  return onFreePort(async (port) => {
    const a = args(port);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('LISTEN_')) env[k] = v;
    const child = wrap(spawn('systemd-socket-activate', [...a, ...program], { env, stdio: ['pipe', 'pipe', 'pipe'] }));
    const want = a.filter((x) => x === '-l').length;
    const ok = await new Promise<boolean>((resolve) => {
      const check = setInterval(() => {
        if ((child.stderr().match(/Listening on /g) ?? []).length >= want) done(true);
      }, 10);
      const done = (v: boolean) => {
        clearInterval(check);
        resolve(v);
      };
      child.exited.then(() => done(false));
    });
    if (ok) return { child, port };
    if (/in use/i.test(child.stderr())) return PORT_TAKEN;
    throw new Error(`systemd-socket-activate failed: ${child.stderr()}`);
  });
}

const get = async (target: HttpTarget) => (await httpGet(target)).body;

describe('apps launched by systemd-socket-activate', () => {
  it("TCP: examples/hello answers on the inherited socket, as the launcher's own pid (exec in place)", async () => {
    const { child, port } = await socketActivate((p) => ['-l', `127.0.0.1:${p}`], [process.execPath, HELLO]);
    expect(await get({ host: '127.0.0.1', port })).toBe(`hello from pid ${child.proc.pid}\n`);
    // Served twice by the same process: the socket stays adopted, not re-bound.
    expect(await get({ host: '127.0.0.1', port })).toBe(`hello from pid ${child.proc.pid}\n`);
    child.proc.kill('SIGTERM');
    // shutdownOnSignal: a graceful stop exits 0.
    expect(await child.exited).toBe(0);
  });

  it('UNIX path and abstract with --fdname: the fixture sees both names and serves both', async () => {
    const sockPath = path.join(dir, 'sa.sock');
    const abstract = abstractName();
    const { child } = await socketActivate(
      () => ['-l', sockPath, '-l', abstract, '--fdname=web:admin'],
      [process.execPath, FIXTURE, 'serve'],
    );
    // The first connection triggers the exec; it waits in the backlog until the app accepts it.
    const first = get({ socketPath: sockPath });
    const got = await child.json();
    expect(got.pid).toBe(child.proc.pid);
    expect(got.listeners).toEqual([
      expect.objectContaining({ fd: 3, name: 'web', type: 'server', family: 'unix', address: sockPath }),
      expect.objectContaining({ fd: 4, name: 'admin', type: 'server', family: 'unix', address: abstract }),
    ]);
    expect(await first).toBe(`hello web fd 3 pid ${got.pid}\n`);
    expect(await get({ abstract })).toBe(`hello admin fd 4 pid ${got.pid}\n`);
    await child.stop();
  });

  it('-d: a UDP socket becomes a dgram.Socket, and the datagram that woke the launcher is answered', async () => {
    const { child, port } = await socketActivate(
      (p) => ['-d', '-l', `127.0.0.1:${p}`],
      [process.execPath, FIXTURE, 'serve'],
    );
    const client = dgram.createSocket('udp4');
    const reply = new Promise<string>((resolve) => client.once('message', (m) => resolve(m.toString())));
    client.send('wake up', port, '127.0.0.1');
    const got = await child.json();
    expect(got.listeners).toEqual([expect.objectContaining({ fd: 3, type: 'dgram', socketFamily: 'IPv4' })]);
    expect(await reply).toBe('echo unknown fd 3: wake up');
    client.close();
    await child.stop();
  });

  it('-a: one process per connection, each handed the connection (examples/hello serves it once)', async () => {
    const { child, port } = await socketActivate((p) => ['-a', '-l', `127.0.0.1:${p}`], [process.execPath, HELLO]);
    const one = await get({ host: '127.0.0.1', port });
    const two = await get({ host: '127.0.0.1', port });
    const pidOf = (s: string) => Number(/^hello from pid (\d+)\n$/.exec(s)?.[1]);
    expect(pidOf(one)).toBeGreaterThan(0);
    expect(pidOf(two)).toBeGreaterThan(0);
    // Accept=yes: a new child per connection, not the launcher itself.
    expect(pidOf(one)).not.toBe(pidOf(two));
    expect(pidOf(one)).not.toBe(child.proc.pid);
    child.proc.kill('SIGTERM');
    await child.exited;
  });
});
