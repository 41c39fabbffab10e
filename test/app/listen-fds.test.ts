// listenFds() in real children with real fds at 3.., checked against the OS and against
// libsystemd's own sd_listen_fds_with_names() + sd_is_socket*() (test/_support/sd-peer.py).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { openSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as sys from '../../src/sys/index.js';
import { wrap } from '../_support/child.js';
import { exchange } from '../_support/launcher.js';
import { abstractName, fileTempDir } from '../_support/tmp.js';
import { acceptedConnection, FIXTURE, listener, runActivated, runApp, SD_PEER } from './_helpers.js';

/** JSON read back from a child process: its shape is what the assertions check. */
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON from a child, checked field by field below.
type Any = any;

const dir = fileTempDir();

/**
 * One of every kind systemd passes: TCP v4/v6, UNIX path, abstract, UDP, UNIX dgram, seqpacket, FIFO, file, char
 * device.
 */
function everyKind(): { fds: number[]; names: string[] } {
  const fifo = path.join(dir, `fifo-${Math.random()}`);
  execFileSync('mkfifo', [fifo]);
  const fds = [
    listener({ family: 'inet', address: '127.0.0.1', port: 0 }).fd,
    listener({ family: 'inet6', address: '::1', port: 0 }).fd,
    listener({ family: 'unix', path: path.join(dir, `s-${Math.random()}.sock`) }).fd,
    listener({ family: 'unix', path: abstractName() }).fd,
    listener({ family: 'inet', address: '127.0.0.1', port: 0 }, 'dgram').fd,
    listener({ family: 'unix', path: path.join(dir, `d-${Math.random()}.sock`) }, 'dgram').fd,
    listener({ family: 'unix', path: path.join(dir, `q-${Math.random()}.sock`) }, 'seqpacket').fd,
    openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK),
    openSync(path.join(import.meta.dirname, 'fixtures/app.mjs'), 'r'),
    openSync('/dev/null', 'w'),
  ];
  return {
    fds,
    names: ['tcp4', 'tcp6', 'path', 'abstract', 'udp', 'unixdgram', 'seqpacket', 'fifo', 'stored', 'null'],
  };
}

describe('listenFds() in an activated child', () => {
  it('describes every kind of fd, in order, with names, and agrees with libsystemd', async () => {
    const a = everyKind();
    const b = everyKind();
    // LISTEN_PIDFDID (systemd 258) is ignored, and removed with the others (docs/protocol.md 6, 10).
    const ours = runApp(a.fds, 'describe', ['--clear-cloexec'], {
      LISTEN_FDNAMES: a.names.join(':'),
      LISTEN_PIDFDID: '12345',
    });
    const peer = runActivated(b.fds, '/usr/bin/python3', [SD_PEER], { LISTEN_FDNAMES: b.names.join(':') });
    const [got, sd] = [await ours.json(), await peer.json()];
    await Promise.all([ours.stop(), peer.stop()]);

    expect(got.error).toBeUndefined();
    expect(got.fds.map((d: Record<string, unknown>) => d.fd)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(got.fds.map((d: Record<string, unknown>) => d.name)).toEqual(a.names);
    expect(sd.names).toEqual(b.names);
    const pick = (d: Record<string, unknown>) => [d.kind, d.type, d.family, d.listening, d.abstract];
    expect(got.fds.map(pick)).toEqual([
      ['socket', 'stream', 'inet', true, undefined],
      ['socket', 'stream', 'inet6', true, undefined],
      ['socket', 'stream', 'unix', true, false],
      ['socket', 'stream', 'unix', true, true],
      ['socket', 'dgram', 'inet', false, undefined],
      ['socket', 'dgram', 'unix', false, false],
      ['socket', 'seqpacket', 'unix', true, false],
      ['fifo', undefined, undefined, undefined, undefined],
      ['file', undefined, undefined, undefined, undefined],
      ['char-device', undefined, undefined, undefined, undefined],
    ]);
    // libsystemd classifies the same fds the same way (same order of kinds, built afresh).
    for (const [i, d] of got.fds.entries()) {
      const s = sd.fds[i];
      expect(s.socket).toBe(d.kind === 'socket');
      expect(s.fifo).toBe(d.kind === 'fifo');
      // sd_is_special: a regular file or a character device.
      expect(s.special).toBe(d.kind === 'file' || d.kind === 'char-device');
      if (d.kind === 'socket') expect([s.type, s.family, s.listening]).toEqual([d.type, d.family, d.listening]);
    }
    expect(got.fds[0].address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(got.fds[0].local).toMatchObject({ family: 'inet', address: '127.0.0.1' });
    expect(got.fds[1].address).toMatch(/^\[::1\]:\d+$/);
    expect(got.fds[2].address).toMatch(new RegExp(`^${dir}/s-`));
    expect(got.fds[3].address).toMatch(/^@sockact-test-/);
    expect(got.fds[4].protocol).toBe(17);
    expect(got.fds[7].access).toBe('read-write');
    expect(got.fds[8].access).toBe('read');
    expect(got.fds[9].access).toBe('write');
    // docs/protocol.md 5: every returned fd is close-on-exec afterwards (cleared before the call).
    expect(got.cloexecBefore).toEqual(new Array(10).fill(false));
    expect(got.cloexec).toEqual(new Array(10).fill(true));
    // docs/protocol.md 6: the variables are gone; the second call returns the same cached reading.
    expect(got.envAfter).toEqual({});
    expect(got.sameAgain).toBe(true);
  });

  it('keeps the environment with unsetEnv: false, and names every fd "unknown" without LISTEN_FDNAMES', async () => {
    const { fd } = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const child = runApp([fd], 'describe', ['--keep-env']);
    const got = await child.json();
    await child.stop();
    expect(got.fds.map((d: Record<string, unknown>) => d.name)).toEqual(['unknown']);
    expect(got.envAfter).toEqual({ LISTEN_PID: String(got.pid), LISTEN_FDS: '1' });
  });

  it('keeps empty names ("a::b" style) as libsystemd does', async () => {
    const fds = [0, 1, 2].map(() => listener({ family: 'inet', address: '127.0.0.1', port: 0 }).fd);
    const child = runApp(fds, 'describe', [], { LISTEN_FDNAMES: 'a::b' });
    const got = await child.json();
    await child.stop();
    expect(got.fds.map((d: Record<string, unknown>) => d.name)).toEqual(['a', '', 'b']);
  });

  it('describes a connection (Accept=yes) as a stream socket that is not listening', async () => {
    const { client, fd } = await acceptedConnection();
    const child = runApp([fd], 'describe', [], { LISTEN_FDNAMES: 'connection' });
    const got = await child.json();
    await child.stop();
    client.destroy();
    expect(got.fds[0]).toMatchObject({
      fd: 3,
      name: 'connection',
      kind: 'socket',
      type: 'stream',
      family: 'inet',
      listening: false,
    });
  });
});

describe('a descriptor goes straight to Node', () => {
  it('server.listen(d) and dgramSocket.bind(d) adopt the fds listenFds() describes', async () => {
    const tcp = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const udp = listener({ family: 'inet', address: '127.0.0.1', port: 0 }, 'dgram');
    const child = runApp([tcp.fd, udp.fd], 'direct');
    const got = await child.json();
    const tcpPort = (tcp.addr as { port: number }).port;
    const udpPort = (udp.addr as { port: number }).port;
    expect(got.server).toMatchObject({ address: '127.0.0.1', port: tcpPort });
    expect(got.socket).toMatchObject({ address: '127.0.0.1', port: udpPort, family: 'IPv4' });
    expect(await exchange({ host: '127.0.0.1', port: tcpPort })).toBe(`direct fd 3 pid ${got.pid}\n`);
    const dgram = await import('node:dgram');
    const client = dgram.createSocket('udp4');
    const reply = new Promise<string>((resolve) => client.once('message', (m) => resolve(m.toString())));
    client.send('ping', udpPort, '127.0.0.1');
    expect(await reply).toBe('direct echo: ping');
    client.close();
    await child.stop();
  });
});

describe('isActivated()', () => {
  it('is true with fds passed, leaves the environment for listenFds(), and agrees with it', async () => {
    const { fd } = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const child = runApp([fd], 'activated', [], { LISTEN_FDNAMES: 'web' });
    const got = await child.json();
    await child.stop();
    expect(got).toMatchObject({ first: true, again: true, fds: [3] });
    expect(got.envAfter).toMatchObject({ LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' });
  });

  for (const [what, env] of [
    ['no LISTEN_* at all', {}],
    ['LISTEN_PID of another process', { LISTEN_PID: '1', LISTEN_FDS: '1' }],
  ] as const) {
    it(`is false with ${what}`, async () => {
      const child = runActivated([], process.execPath, [FIXTURE, 'activated'], env, { trampoline: false });
      const got = await child.json();
      await child.stop();
      expect(got).toMatchObject({ first: false, again: false, fds: [] });
    });
  }
});

describe('what the fd store hands back (eventfd, timerfd, pidfd, memfd beside a TCP listener)', () => {
  const FD_STORE = path.join(import.meta.dirname, 'fixtures/fd-store-exec.py');
  const run = (...argv: string[]) => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (/^(LISTEN_|NOTIFY_SOCKET|WATCHDOG_|SOCKACT_)/.test(k)) delete env[k];
    return wrap(spawn('/usr/bin/python3', [FD_STORE, ...argv], { env, stdio: ['pipe', 'pipe', 'pipe'] }));
  };

  it('describes every fd, as libsystemd returns every fd, and never throws for them', async () => {
    const ours = run(process.execPath, FIXTURE, 'describe');
    const peer = run('/usr/bin/python3', SD_PEER);
    const [got, sd] = [await ours.json(), await peer.json()];
    await Promise.all([ours.stop(), peer.stop()]);
    expect(got.error).toBeUndefined();
    expect(sd.n).toBe(5);
    expect(got.fds.map((d: Any) => d.name)).toEqual(sd.names);
    expect(got.fds.map((d: Any) => [d.fd, d.kind, d.anonInode])).toEqual([
      [3, 'socket', undefined],
      [4, 'anon-inode', 'eventfd'],
      [5, 'anon-inode', 'timerfd'],
      [6, 'anon-inode', 'pidfd'],
      // memfd_create(2) makes a regular file on tmpfs.
      [7, 'file', undefined],
    ]);
    expect(got.cloexec).toEqual([true, true, true, true, true]);
  });

  it('getListeners() serves the socket and reports the others as unsupported, naming what they are', async () => {
    const child = run(process.execPath, FIXTURE, 'serve');
    const got = await child.json();
    expect(got.error).toBeUndefined();
    expect(got.listeners.map((l: Any) => [l.fd, l.type])).toEqual([
      [3, 'server'],
      [4, 'unsupported'],
      [5, 'unsupported'],
      [6, 'unsupported'],
      [7, 'stream'],
    ]);
    expect(got.listeners[1].reason).toBe(
      'fd 4 is an anonymous inode (anon_inode:[eventfd]); ' +
        'there is no Node stream for it, use listenFds() and the fd directly',
    );
    const port = Number(got.listeners[0].address.split(':')[1]);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe(`hello web fd 3 pid ${got.pid}\n`);
    await child.stop();
  });
});

describe('listenFds() errors: each names the fd, the variable and the value', () => {
  it(
    "Node's own epoll fd in the range (LISTEN_FDS larger than the fds passed: " +
      'fd 4 is the epoll fd Node opened first)',
    async () => {
      const { fd } = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
      const child = runApp([fd], 'describe', [], { LISTEN_FDS: '2' });
      const got = await child.json();
      await child.stop();
      expect(got.error.code).toBe('ERR_LISTEN_FD');
      expect(got.error.fd).toBe(4);
      expect(got.error.message).toBe(
        "fd 4 ('unknown') is an epoll fd (anon_inode:[eventpoll]), " +
          "most likely Node's own, opened right after the fds passed: " +
          'LISTEN_FDS=2 is probably larger than the number of fds passed',
      );
      // Unset on the error path too, and the second call throws the same error.
      expect(got.envAfter).toEqual({});
      expect(got.second.error).toEqual(got.error);
    },
  );

  it(
    'LISTEN_FDS=2147483644 (valid, far more than passed) fails at the ' +
      'first fd that is not ours, without building anything that large',
    async () => {
      const { fd } = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
      const child = runApp([fd], 'describe', [], { LISTEN_FDS: '2147483644' });
      const got = await child.json();
      await child.stop();
      expect(got.error).toMatchObject({ code: 'ERR_LISTEN_FD', fd: 4 });
    },
  );

  it('a fd in the range that is not open', async () => {
    const fds = [0, 1, 2].map(() => listener({ family: 'inet', address: '127.0.0.1', port: 0 }).fd);
    const child = runApp(fds, 'describe', ['--close=5'], { LISTEN_FDNAMES: 'a:b:c' });
    const got = await child.json();
    await child.stop();
    // The OS error (EBADF from fstat) is kept as the cause.
    expect(got.error).toMatchObject({ code: 'ERR_LISTEN_FD', fd: 5, fdName: 'c', causeCode: 'EBADF' });
    expect(got.error.message).toBe("fd 5 ('c') is not open, but LISTEN_FDS=3 says fds 3..5 were passed");
  });

  it('a LISTEN_FDNAMES count mismatch (unset on this path too, as libsystemd does)', async () => {
    const fds = [0, 1].map(() => listener({ family: 'inet', address: '127.0.0.1', port: 0 }).fd);
    const child = runApp(fds, 'describe', [], { LISTEN_FDNAMES: 'a:b:c' });
    const got = await child.json();
    await child.stop();
    expect(got.error).toMatchObject({ code: 'ERR_LISTEN_ENV', variable: 'LISTEN_FDNAMES', value: 'a:b:c' });
    expect(got.error.message).toBe("LISTEN_FDNAMES has 3 names for 2 fds: 'a:b:c'");
    expect(got.envAfter).toEqual({});
  });

  // Each row: the environment a child gets (LISTEN_PID = its own pid through the trampoline
  // unless the row sets or removes it), and the clear outcome it must give: the exact one-line
  // message with the variable and the value as fields, or a clean "not activated".
  const rows: [string, Record<string, string | undefined>, { variable: string; message: string } | 'not activated'][] =
    [
      // LISTEN_FDS must be a number at all.
      [
        'LISTEN_FDS=abc',
        { LISTEN_FDS: 'abc' },
        { variable: 'LISTEN_FDS', message: "LISTEN_FDS is not a number: 'abc'" },
      ],
      // A negative count is a number, but not a count.
      [
        'LISTEN_FDS=-1',
        { LISTEN_FDS: '-1' },
        { variable: 'LISTEN_FDS', message: "LISTEN_FDS must be at least 1: '-1'" },
      ],
      // Zero fds is EINVAL in libsystemd, not "not activated".
      ['LISTEN_FDS=0', { LISTEN_FDS: '0' }, { variable: 'LISTEN_FDS', message: "LISTEN_FDS must be at least 1: '0'" }],
      // Hex passes libsystemd's base-0 parse; sockact accepts plain decimal only.
      [
        'LISTEN_FDS=0x2',
        { LISTEN_FDS: '0x2' },
        { variable: 'LISTEN_FDS', message: "LISTEN_FDS must be a plain decimal number: '0x2'" },
      ],
      // Two numbers are not one.
      [
        'LISTEN_FDS="1 2"',
        { LISTEN_FDS: '1 2' },
        { variable: 'LISTEN_FDS', message: "LISTEN_FDS is not a number: '1 2'" },
      ],
      // Beyond INT_MAX-3.
      [
        'LISTEN_FDS=99999999999',
        { LISTEN_FDS: '99999999999' },
        { variable: 'LISTEN_FDS', message: "LISTEN_FDS is too large: '99999999999' (at most 2147483644)" },
      ],
      // LISTEN_PID garbage is an error (docs/protocol.md 2), not a silent "not activated".
      [
        'LISTEN_PID=garbage',
        { LISTEN_PID: 'garbage', LISTEN_FDS: '1' },
        { variable: 'LISTEN_PID', message: "LISTEN_PID is not a number: 'garbage'" },
      ],
      // LISTEN_PID of another process: meant for someone else, so not activated.
      ['LISTEN_PID=1 (another pid)', { LISTEN_PID: '1', LISTEN_FDS: '1' }, 'not activated'],
      // LISTEN_PID unset: not activated, even with LISTEN_FDS set (docs/protocol.md 1).
      ['LISTEN_PID unset', { LISTEN_PID: undefined, LISTEN_FDS: '1' }, 'not activated'],
      // LISTEN_PID is ours but LISTEN_FDS unset: 0 fds, not an error (docs/protocol.md 3).
      ['LISTEN_FDS unset', { LISTEN_FDS: undefined }, 'not activated'],
    ];
  for (const [label, env, expected] of rows) {
    it(label, async () => {
      const { fd } = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
      const trampoline = !('LISTEN_PID' in env);
      const child = runActivated(
        [fd],
        process.execPath,
        [path.join(import.meta.dirname, 'fixtures/app.mjs'), 'describe'],
        { LISTEN_FDNAMES: 'web', ...env },
        { trampoline },
      );
      const got = await child.json();
      await child.stop();
      if (expected === 'not activated') {
        expect(got.error).toBeUndefined();
        expect(got.fds).toEqual([]);
      } else {
        expect(got.error).toMatchObject({
          code: 'ERR_LISTEN_ENV',
          name: 'SockactError',
          ...expected,
          value: env[expected.variable],
        });
        // Every later call gives the same error, not a different reading of an emptied environment.
        expect(got.second.error).toEqual(got.error);
      }
      // docs/protocol.md 6: removed on every path (success, another pid, error), LISTEN_FDNAMES included.
      expect(got.envAfter).toEqual({});
    });
  }

  it('warns once when LISTEN_PID is another process (a wrapper such as npm start)', async () => {
    const { fd } = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const child = runActivated(
      [fd],
      process.execPath,
      [path.join(import.meta.dirname, 'fixtures/app.mjs'), 'describe'],
      { LISTEN_PID: '1', LISTEN_FDS: '1' },
      { trampoline: false },
    );
    await child.json();
    await child.stop();
    expect(child.stderr()).toMatch(/LISTEN_PID=1 is not this process \(\d+\): ignoring LISTEN_FDS=1/);
    expect(child.stderr().match(/SOCKACT_LISTEN_PID/g)).toHaveLength(1);
  });

  it('libsystemd also rejects the mismatch and the zero count (agreement on the errors)', () => {
    // Same rows, through sd_listen_fds_with_names() itself.
    for (const env of [{ LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b:c' }, { LISTEN_FDS: '0' }]) {
      const fds = [openSync('/dev/null', 'r'), openSync('/dev/null', 'r')];
      const r = spawnSync(
        'sh',
        ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"', '/usr/bin/python3', SD_PEER],
        {
          env: { PATH: process.env.PATH, ...env },
          stdio: ['ignore', 'pipe', 'inherit', ...fds],
          encoding: 'utf8',
        },
      );
      for (const fd of fds) sys.closeFd(fd);
      expect(JSON.parse(r.stdout)).toMatchObject({ n: -22, error: 'EINVAL' });
    }
  });
});
