import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { httpGet, type HttpTarget } from '../_support/http.js';
import {
  abstractName,
  exchange,
  hostPort,
  listeningOn,
  perTest,
  PYTHON,
  ROOT,
  run,
  SD_PEER,
  SOCKACT,
  sockact,
  type Run,
} from '../_support/launcher.js';
import { WAIT_TIMEOUT } from '../_support/wait.js';

/** Real peers no one here wrote must accept what sockact passes (issue 3, Tests). */

const { dir } = perTest();

const HELLO = join(ROOT, 'examples/hello/server.js');

const get = async (target: HttpTarget) => (await httpGet(target)).body;

/**
 * hello says on stderr what it serves: wait for its line about the last fd, or any other line
 * of hello's (a fallback, an fd ignored, an error), bounded; then hold it to "serving fd N" for
 * each inherited socket, so a socket it did not adopt fails here, naming
 * what hello did instead, rather than as a GET that no one answers.
 */
async function helloServes(r: Run, fds: number[]): Promise<void> {
  await r.waitFor(
    'stderr',
    new RegExp(`^hello: (pid \\d+ serving fd ${fds.at(-1)} |(?!pid \\d+ serving ).*\\n)`, 'm'),
    WAIT_TIMEOUT,
  );
  for (const fd of fds) expect(r.stderr).toMatch(new RegExp(`\\nhello: pid \\d+ serving fd ${fd} \\(`));
}

describe("libsystemd's sd_listen_fds_with_names and sd_is_socket* (sd-peer.py)", () => {
  it('accept TCP v4 and v6 with one --fdname copied to every socket', async () => {
    const r = sockact(['-q', '-l', '127.0.0.1:0', '-l', '[::1]:0', '--fdname', 'web', '--', PYTHON, SD_PEER]);
    expect((await r.exited).code).toBe(0);
    const peer = JSON.parse(r.stdout);
    expect(peer).toMatchObject({ n: 2, names: ['web', 'web'], env: {} });
    expect(peer.fds.map((f: { family: string; listening: boolean }) => [f.family, f.listening])).toEqual([
      ['inet', true],
      ['inet6', true],
    ]);
  });

  it('accept UNIX path and abstract sockets with --fdname per socket', async () => {
    const path = join(dir(), 'app.sock');
    const name = abstractName('cli');
    const r = sockact(['-q', '-l', path, '-l', name, '--fdname', 'file:abstract', '--', PYTHON, SD_PEER]);
    expect((await r.exited).code).toBe(0);
    const peer = JSON.parse(r.stdout);
    expect(peer).toMatchObject({ n: 2, names: ['file', 'abstract'] });
    expect(peer.fds.map((f: { family: string; local: string }) => [f.family, f.local])).toEqual([
      ['unix', path],
      ['unix', `\u0000${name.slice(1)}`],
    ]);
  });

  it('accept UDP (-d) and seqpacket sockets', async () => {
    const udp = sockact(['-q', '-d', '-l', '127.0.0.1:0', '-l', '[::1]:0', '--', PYTHON, SD_PEER]);
    const sp = sockact(['-q', '--seqpacket', '-l', join(dir(), 'sp.sock'), '--', PYTHON, SD_PEER]);
    expect((await udp.exited).code).toBe(0);
    expect((await sp.exited).code).toBe(0);
    const types = (out: string) =>
      JSON.parse(out).fds.map((f: { type: string; family: string; listening: boolean }) => [
        f.type,
        f.family,
        f.listening,
      ]);
    expect(types(udp.stdout)).toEqual([
      ['dgram', 'inet', false],
      ['dgram', 'inet6', false],
    ]);
    expect(types(sp.stdout)).toEqual([['seqpacket', 'unix', true]]);
  });
});

/**
 * Python's systemd.daemon (python3-systemd) when /usr/bin/python3 has it; otherwise the same
 * libsystemd calls it wraps, through ctypes. Either way it prints which one answered, and the
 * test checks that the one it expects did: never silently nothing.
 */
const PY_SYSTEMD_PEER = join(import.meta.dirname, 'fixtures/py-systemd-peer.py');

describe("Python's systemd.daemon.listen_fds_with_names()", () => {
  it(
    'accepts TCP v4, v6 and UNIX sockets with their names ' + '(through ctypes where python3-systemd is missing)',
    async () => {
      const installed = spawnSync(PYTHON, ['-c', 'import systemd.daemon']).status === 0;
      const path = join(dir(), 'app.sock');
      const r = sockact([
        '-q',
        '-l',
        '127.0.0.1:0,name=v4',
        '-l',
        '[::1]:0,name=v6',
        '-l',
        `${path},name=unix`,
        '--',
        PYTHON,
        PY_SYSTEMD_PEER,
      ]);
      expect((await r.exited).code).toBe(0);
      const peer = JSON.parse(r.stdout);
      expect(peer.via).toBe(installed ? 'systemd.daemon' : 'libsystemd');
      expect(peer.fds).toEqual([
        [3, 'v4', true, false, false],
        [4, 'v6', false, true, false],
        [5, 'unix', false, false, true],
      ]);
    },
  );
});

describe('systemd-socket-activate as a middle link', () => {
  it("passes sockact's socket on, which it does only when LISTEN_PID is exactly its own pid", async () => {
    // systemd-socket-activate takes fd 3 from sockact (sd_listen_fds checks LISTEN_PID), adds its
    // own socket as fd 4, and on the first connection execs sd-peer with both. The connection
    // goes to sockact's socket, so the peer answering on it proves the fd made it through.
    // systemd-socket-activate refuses port 0, so its own socket is a UNIX path.
    const own = join(dir(), 'ssa.sock');
    const r = sockact([
      '-l',
      '127.0.0.1:0,name=outer',
      '--',
      'systemd-socket-activate',
      '-l',
      own,
      '--fdname',
      'outer:own',
      '--',
      PYTHON,
      SD_PEER,
      '--serve-once',
    ]);
    const outer = hostPort(await listeningOn(r));
    // systemd-socket-activate's own log: both fds, the inherited one first (it takes fd 3 only
    // when LISTEN_PID is its own pid; otherwise its own socket is fd 3 and nothing else comes).
    await r.waitFor('stderr', new RegExp(`Listening on ${own} as \\d+\\.`), WAIT_TIMEOUT);
    expect(r.stderr).toContain(`Listening on 127.0.0.1:${outer.port} as 3.`);
    expect(r.stderr).toContain(`Listening on ${own} as 4.`);
    const reply = JSON.parse(await exchange(outer));
    expect(reply.n).toBe(2);
    expect(reply.names).toEqual(['outer', 'own']);
    expect(reply.fds[0]).toMatchObject({
      fd: 3,
      type: 'stream',
      family: 'inet',
      listening: true,
      local: ['127.0.0.1', outer.port],
    });
    expect((await r.exited).code).toBe(0);
  });
});

describe('sockact under systemd-socket-activate', () => {
  it('passes the socket it inherited first, with its name, then its own', async () => {
    // systemd-socket-activate (252) waits for the first connection, then execs sockact in its
    // place with LISTEN_PID set; sd-peer then answers that connection on the inherited fd 3.
    const outer = join(dir(), 'outer.sock');
    const r = run('systemd-socket-activate', [
      '-l',
      outer,
      '--fdname',
      'outer',
      '--',
      process.execPath,
      SOCKACT,
      '-l',
      '127.0.0.1:0,name=inner',
      '--',
      PYTHON,
      SD_PEER,
      '--serve-once',
    ]);
    await r.waitFor('stderr', new RegExp(`Listening on ${outer} as 3\\.`));
    const served = exchange({ path: outer });
    served.catch(() => undefined); // awaited below, unless an assertion fails first
    // sd-peer prints what it got before it serves fd 3: an order that is wrong fails here, at once.
    const got = JSON.parse((await r.waitFor('stdout', /^\{.*\}$/m, WAIT_TIMEOUT))[0]);
    expect(got.names).toEqual(['outer', 'inner']);
    expect(got.fds.map((f: { fd: number; family: string }) => [f.fd, f.family])).toEqual([
      [3, 'unix'],
      [4, 'inet'],
    ]);
    const reply = JSON.parse(await served);
    expect(reply.names).toEqual(['outer', 'inner']);
    expect(reply.fds[0]).toMatchObject({ fd: 3, type: 'stream', family: 'unix', listening: true, local: outer });
    expect(reply.fds[1]).toMatchObject({ fd: 4, type: 'stream', family: 'inet', listening: true });
    expect((await r.exited).code).toBe(0);
    expect(r.stderr).toContain(`sockact: passing on inherited ${outer} as fd 3 (outer)`);
  });
});

describe('sockact under sockact', () => {
  it('passes inherited sockets on first, at their positions and with their names', async () => {
    const r = sockact([
      '-l',
      '127.0.0.1:0,name=outer',
      '--',
      process.execPath,
      SOCKACT,
      '-l',
      '127.0.0.1:0,name=inner',
      '--',
      PYTHON,
      SD_PEER,
    ]);
    expect((await r.exited).code).toBe(0);
    const outer = await listeningOn(r);
    const inner = (await r.waitFor('stderr', /listening on (\S+) as fd 4 \(inner\)/))[1]!;
    expect(r.stderr).toContain(`sockact: passing on inherited ${outer} as fd 3 (outer)`);
    const peer = JSON.parse(r.stdout);
    expect(peer.n).toBe(2);
    expect(peer.names).toEqual(['outer', 'inner']);
    expect(peer.fds.map((f: { local: [string, number] }) => `${f.local[0]}:${f.local[1]}`)).toEqual([outer, inner]);
  });
});

describe('sockact -a under sockact', () => {
  it('refuses to accept on an inherited datagram socket, naming the fd, before starting anything', async () => {
    const r = sockact(['-d', '-l', '127.0.0.1:0', '--', process.execPath, SOCKACT, '-a', '--', 'cat']);
    expect((await r.exited).code).toBe(2);
    expect(r.stderr).toContain(
      '\nsockact: --accept: inherited fd 3 (unknown) is not a listening stream or seqpacket socket\n',
    );
    expect(r.stderr).not.toContain('accepting connections');
  });
});

describe("the package's own getListeners() (examples/hello)", () => {
  it('serves HTTP through sockact on IPv4 and IPv6', async () => {
    const r = sockact(['-l', '127.0.0.1:0', '-l', '[::1]:0', '--', process.execPath, HELLO]);
    const v4 = hostPort(await listeningOn(r, 3));
    const v6 = hostPort(await listeningOn(r, 4));
    const started = (await r.waitFor('stderr', /started \S+ \S+ as pid (\d+)/))[1];
    await helloServes(r, [3, 4]);
    expect(await get(v4)).toBe(`hello from pid ${started}\n`);
    expect(await get(v6)).toBe(`hello from pid ${started}\n`);
    // hello shuts down cleanly on SIGTERM, which sockact forwards; its exit code is sockact's.
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(r.stderr).toContain(`sockact: pid ${started} exited with code 0`);
  });

  it('serves IPv4 and IPv6 on a bare PORT and on :PORT, both dual-stack [::]', async () => {
    for (const form of ['0', ':0']) {
      const r = sockact(['-l', form, '--', process.execPath, HELLO]);
      const label = await listeningOn(r);
      expect(label).toMatch(/^\[::\]:\d+$/);
      const { port } = hostPort(label);
      const started = (await r.waitFor('stderr', /started \S+ \S+ as pid (\d+)/))[1];
      await helloServes(r, [3]);
      expect(await get({ host: '127.0.0.1', port })).toBe(`hello from pid ${started}\n`);
      expect(await get({ host: '::1', port })).toBe(`hello from pid ${started}\n`);
      r.child.kill('SIGTERM');
      expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
    }
  });

  it('serves one HTTP connection per process in accept mode', async () => {
    const r = sockact(['-a', '-l', '127.0.0.1:0', '--', process.execPath, HELLO]);
    const tcp = hostPort((await r.waitFor('stderr', /listening on (\S+)/))[1]!);
    const first = await get(tcp);
    const second = await get(tcp);
    expect(first).toMatch(/^hello from pid \d+\n$/);
    expect(second).toMatch(/^hello from pid \d+\n$/);
    expect(second).not.toBe(first);
    r.child.kill('SIGTERM');
    await r.ended('SIGTERM');
  });
});
