import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bindAll, closeSockets, type BoundSocket } from '../../src/launch/bind.js';
import { lookupUser } from '../../src/launch/ids.js';
import { describeExit, spawnActivated, type SpawnActivatedOptions } from '../../src/launch/spawn.js';
import { parseListen } from '../../src/protocol/address.js';
import { FD_LISTER_PY, PYTHON, ROOT, SD_PEER, SD_WATCHDOG_TREE } from '../_support/launcher.js';
import { abstractName, tempDir } from '../_support/tmp.js';
import { itAsRoot } from '../_support/root.js';

const open: BoundSocket[] = [];
const cleanups: (() => void)[] = [];
afterEach(() => {
  closeSockets(open.splice(0));
  for (const c of cleanups.splice(0)) c();
});

function bind(...texts: string[]): BoundSocket[] {
  const all = bindAll(texts.map((t) => parseListen(t)));
  open.push(...all);
  return all;
}

/** Run a child with stdout piped; resolve with its output and how it ended. */
function output(opts: SpawnActivatedOptions): Promise<{ out: string; code: number | null; child: ChildProcess }> {
  const child = spawnActivated({ stdio: ['ignore', 'pipe', 'inherit'], ...opts });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res({ out, code, child }));
  });
}

describe('spawnActivated', () => {
  it(
    'passes TCP v4 and v6, UNIX path and abstract, UDP and seqpacket ' +
      "sockets that libsystemd accepts, with the child's own LISTEN_PID",
    async () => {
      const t = tempDir();
      cleanups.push(t.cleanup);
      const sockets = bind(
        '127.0.0.1:0',
        '[::1]:0',
        join(t.dir, 'stream.sock'),
        abstractName('spawn'),
        '127.0.0.1:0,dgram',
        `${join(t.dir, 'sp.sock')},seqpacket`,
      );
      const names = ['v4', 'v6', 'path', 'abstract', 'udp', 'seqpacket'];
      const { out, code } = await output({ program: PYTHON, args: [SD_PEER], fds: sockets.map((s) => s.fd), names });
      expect(code).toBe(0);
      const peer = JSON.parse(out);
      // sd_listen_fds_with_names returns the fds only when LISTEN_PID is exactly the caller's pid.
      expect(peer.n).toBe(6);
      expect(peer.names).toEqual(names);
      expect(
        peer.fds.map((f: { type: string; family: string; listening: boolean }) => [f.type, f.family, f.listening]),
      ).toEqual([
        ['stream', 'inet', true],
        ['stream', 'inet6', true],
        ['stream', 'unix', true],
        ['stream', 'unix', true],
        ['dgram', 'inet', false],
        ['seqpacket', 'unix', true],
      ]);
      expect(peer.fds.map((f: { fd: number }) => f.fd)).toEqual([3, 4, 5, 6, 7, 8]);
      expect(peer.fds[0].local).toEqual(['127.0.0.1', (sockets[0]!.local as { port: number }).port]);
      expect(peer.fds[2].local).toBe(join(t.dir, 'stream.sock'));
      // libsystemd's unset_environment found everything it looks for, and removed it.
      expect(peer.env).toEqual({});
    },
  );

  it('gives the child exactly fds 0, 1, 2 and its sockets, blocking, and no stale activation variables', async () => {
    const sockets = bind('127.0.0.1:0', '127.0.0.1:0,dgram');
    const stale = {
      LISTEN_PID: '1',
      LISTEN_FDS: '9',
      LISTEN_FDNAMES: 'x',
      LISTEN_PIDFDID: '7',
      NOTIFY_SOCKET: '/run/x',
      WATCHDOG_USEC: '1',
      WATCHDOG_PID: '1',
    };
    const vars = [...Object.keys(stale), 'KEEP'];
    const { out } = await output({
      program: PYTHON,
      args: [FD_LISTER_PY, ...vars],
      fds: sockets.map((s) => s.fd),
      env: { ...process.env, ...stale, KEEP: 'kept' },
    });
    const seen = JSON.parse(out);
    expect(Object.keys(seen.fds).map(Number)).toEqual([0, 1, 2, 3, 4]);
    expect(seen.fds['3'].target).toMatch(/^socket:\[\d+\]$/);
    expect(seen.fds['4'].target).toMatch(/^socket:\[\d+\]$/);
    // As systemd hands them over: blocking, and inheritable until the program claims them.
    expect([seen.fds['3'].nonblock, seen.fds['4'].nonblock]).toEqual([false, false]);
    expect(seen.env).toEqual({
      LISTEN_PID: String(seen.pid),
      LISTEN_FDS: '2',
      LISTEN_FDNAMES: null,
      LISTEN_PIDFDID: null,
      NOTIFY_SOCKET: null,
      WATCHDOG_USEC: null,
      WATCHDOG_PID: null,
      KEEP: 'kept',
    });
  });

  it('passes PROGRAM and ARGS through the trampoline untouched', async () => {
    const [s] = bind('127.0.0.1:0');
    const args = ['a b', '"q"', "'s'", '$HOME', '`x`', 'new\nline', '', '-c', '--', '*'];
    const { out } = await output({
      program: PYTHON,
      args: [join(ROOT, 'test/_support/print-argv.py'), ...args],
      fds: [s!.fd],
    });
    expect(JSON.parse(out)).toEqual(args);
  });

  it('sets variables from setenv', async () => {
    const [s] = bind('127.0.0.1:0');
    const { out } = await output({
      program: PYTHON,
      args: [FD_LISTER_PY, 'A', 'B'],
      fds: [s!.fd],
      setenv: { A: '1', B: '' },
    });
    expect(JSON.parse(out).env).toEqual({ A: '1', B: '' });
  });

  itAsRoot('runs the program as another user, without supplementary groups', async () => {
    const [s] = bind('127.0.0.1:0');
    const who = lookupUser('nobody');
    const { out } = await output({
      program: PYTHON,
      args: [join(import.meta.dirname, 'fixtures/print-ids.py')],
      fds: [s!.fd],
      uid: who.uid,
      gid: who.gid,
    });
    const [uid, gid, groups] = JSON.parse(out);
    expect([uid, gid]).toEqual([who.uid, who.gid]);
    expect(who.uid).not.toBe(0);
    expect(groups).toEqual([]);
  });

  it(
    "passes on Node's raised RLIMIT_NOFILE soft limit and SIGHUP " +
      'at its default action (what Node did cannot be undone)',
    async () => {
      const [s] = bind('127.0.0.1:0');
      // Node runs with its soft limit raised to the hard one, and SIGHUP at its default action.
      const script = `ulimit -Sn; grep SigIgn /proc/self/status; kill -HUP $$; echo alive`;
      const plain = await output({ program: 'sh', args: ['-c', script], fds: [s!.fd] });
      const nodeSoft = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1];
      expect(plain.out.split('\n')[0]).toBe(nodeSoft);
      expect(plain.code).toBe(null); // killed by its own SIGHUP
    },
  );

  it(
    'gives a child with WATCHDOG_USEC its own pid in WATCHDOG_PID, sockets or none: ' +
      "libsystemd's watchdog is on in it, off in what it starts",
    async () => {
      const [s] = bind('127.0.0.1:0');
      // The launcher's own, from its service manager: they must not decide anything below.
      const env = { ...process.env, WATCHDOG_USEC: '5000000', WATCHDOG_PID: String(process.pid) };
      for (const fds of [[s!.fd], []]) {
        const { out, code, child } = await output({
          program: PYTHON,
          args: [SD_WATCHDOG_TREE],
          fds,
          env,
          setenv: { WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' },
        });
        expect(code).toBe(0);
        const seen = JSON.parse(out);
        const given = { WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(child.pid) };
        expect(seen.child).toEqual({ pid: child.pid, r: 1, usec: 1_000_000, env: given });
        expect(seen.grandchild).toEqual({ pid: seen.grandchild.pid, r: 0, usec: 0, env: given });
        expect(seen.grandchild.pid).not.toBe(child.pid);
      }
    },
  );

  it('starts a program without sockets directly, with no LISTEN_* at all (inetd)', async () => {
    const { out } = await output({
      program: PYTHON,
      args: [FD_LISTER_PY, 'LISTEN_PID', 'LISTEN_FDS'],
      fds: [],
      env: { ...process.env, LISTEN_FDS: '3' },
    });
    const seen = JSON.parse(out);
    expect(Object.keys(seen.fds).map(Number)).toEqual([0, 1, 2]);
    expect(seen.env).toEqual({ LISTEN_PID: null, LISTEN_FDS: null });
  });
});

describe('describeExit', () => {
  it.each<[number | null, NodeJS.Signals | null, string]>([
    [0, null, 'pid 42 exited with code 0'],
    [3, null, 'pid 42 exited with code 3'],
    [null, 'SIGTERM', 'pid 42 killed by SIGTERM'],
  ])('%s %s', (code, signal, line) => {
    expect(describeExit(42, code, signal)).toBe(line);
  });
});
