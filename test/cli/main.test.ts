import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FD_LISTER,
  FD_LISTER_PY,
  hostPort,
  listeningOn,
  perTest,
  PYTHON,
  ROOT,
  sockact,
} from '../_support/launcher.js';
import { itAsRoot } from '../_support/root.js';

const { defer, dir } = perTest();

/** Occupy a loopback port with a plain Node server, for the port-in-use cases. */
async function busyPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  defer(() => server.close());
  return (server.address() as { port: number }).port;
}

describe('sockact: lifecycle and exit status', () => {
  it("prints one line per event and exits with the program's code", async () => {
    const r = sockact(['-l', '127.0.0.1:0,name=web', '--', 'sh', '-c', 'exit 7']);
    const { code } = await r.exited;
    expect(code).toBe(7);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^sockact: listening on 127\.0\.0\.1:\d+ as fd 3 \(web\)$/);
    const pid = /^sockact: started sh -c 'exit 7' as pid (\d+)$/.exec(lines[1]!)![1];
    expect(lines[2]).toBe(`sockact: pid ${pid} exited with code 7`);
  });

  it('is silent with -q', async () => {
    const r = sockact(['-q', '-l', '127.0.0.1:0', 'true']);
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stderr).toBe('');
  });

  it('exits 127 for a program that is not found, before binding anything', async () => {
    const port = await busyPort();
    // The -l would fail to bind: the missing program is reported first, as nothing was started.
    const r = sockact(['-l', `127.0.0.1:${port}`, 'no-such-program-sockact-test']);
    expect((await r.exited).code).toBe(127);
    expect(r.stderr).toBe('sockact: no-such-program-sockact-test: command not found\n');
  });

  it('exits 126 for a program that is not executable', async () => {
    const file = join(dir(), 'script');
    writeFileSync(file, '#!/bin/sh\necho hi\n');
    chmodSync(file, 0o644);
    // root may execute a file with no x bit at all only if some x bit is set: none is.
    const r = sockact(['-l', '127.0.0.1:0', file]);
    expect((await r.exited).code).toBe(126);
    expect(r.stderr).toBe(`sockact: ${file}: permission denied (${file} is not executable)\n`);
  });

  it('exits 126 for a directory given as the program', async () => {
    const d = dir();
    const r = sockact(['-l', '127.0.0.1:0', d]);
    expect((await r.exited).code).toBe(126);
    expect(r.stderr).toBe(`sockact: ${d}: permission denied (${d} is a directory)\n`);
  });

  it('names the path and the reason when a UNIX socket cannot be made, exits 1, and starts nothing', async () => {
    const file = join(dir(), 'file');
    writeFileSync(file, '');
    const marker = join(dir(), 'started');
    const r = sockact(['-l', join(file, 'app.sock'), '--', 'touch', marker]);
    expect((await r.exited).code).toBe(1);
    expect(r.stderr).toBe(
      `sockact: can't listen on ${join(file, 'app.sock')}: can't create the directory ${file}: a file is in the way\n`,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('names the address and the reason when a port is in use, exits 1, and starts nothing', async () => {
    const port = await busyPort();
    const marker = join(dir(), 'started');
    const r = sockact(['-l', '127.0.0.1:0', '-l', `127.0.0.1:${port}`, '--', 'touch', marker]);
    expect((await r.exited).code).toBe(1);
    expect(r.stderr).toBe(`sockact: can't listen on 127.0.0.1:${port}: address already in use\n`);
    expect(existsSync(marker)).toBe(false);
  });

  it.each([[[]], [['--wrapper']]])(
    'when the program may not be started as --user, %j: ' +
      'says why in one line, exits 1, leaves no socket file or hand-off directory',
    async (extra) => {
      // sockact runs unprivileged and asks for root: setgroups/setuid in the child are refused.
      const d = dir();
      chmodSync(d, 0o777);
      const path = join(d, 'app.sock');
      const root = process.getuid!() === 0;
      const r = sockact(['-l', `${path},remove-on-exit`, '--user', 'root', ...extra, '/bin/true'], {
        env: { ...process.env, XDG_RUNTIME_DIR: d },
        ...(root ? { uid: 65534, gid: 65534 } : {}),
      });
      expect((await r.exited).code).toBe(1);
      const lines = r.stderr.split('\n');
      expect(lines[0]).toBe(`sockact: listening on ${path} as fd 3`);
      // Without --wrapper the child's setuid is refused; with it, handing the hand-off socket to root
      // (in /tmp: root's /run/user/0 is not this user's to reach).
      expect(lines.slice(1).join('\n')).toMatch(
        extra.length
          ? /^sockact: chown \/tmp\/sockact-\w+\/fds\.sock: operation not permitted\n$/
          : /^sockact: can't start \/bin\/true: operation not permitted\n$/,
      );
      // The default control directory may stay (other sockacts share it), empty.
      expect(readdirSync(d).filter((f) => f !== 'sockact')).toEqual([]);
      if (readdirSync(d).includes('sockact')) expect(readdirSync(join(d, 'sockact'))).toEqual([]);
    },
  );

  it.each<[string[], string]>([
    [['-l', '127.0.0.1:99999', 'true'], "sockact: -l '127.0.0.1:99999': port 99999 is out of range (0-65535)"],
    [
      ['-l', 'localhost:80', 'true'],
      "sockact: -l 'localhost:80': " +
        "'localhost' is not an IP address (names are not resolved): use e.g. 127.0.0.1 or [::1]",
    ],
    [['-l', '8080,bakclog=1', 'true'], "sockact: -l '8080,bakclog=1': unknown socket option 'bakclog'"],
    [['--frobnicate', '-l', '0', 'true'], 'sockact: unknown option --frobnicate'],
    [['-d', '-a', '-l', '0', 'true'], 'sockact: --datagram may not be combined with --accept'],
    [['-l', '0'], 'sockact: PROGRAM is missing'],
    [['true'], 'sockact: nothing to listen on: give -l ADDRESS'],
    [
      ['--inetd', '-l', '127.0.0.1:0', '-l', '127.0.0.1:0', 'true'],
      'sockact: --inetd passes exactly one socket on stdin and stdout, but there are 2',
    ],
    [['-E', 'LISTEN_FDS=4', '-l', '0', 'true'], "sockact: -E 'LISTEN_FDS=4': sockact sets LISTEN_FDS itself"],
    [['-l', '70000', 'true'], "sockact: -l '70000': port 70000 is out of range (0-65535)"],
    [['-l', '[::1', 'true'], "sockact: -l '[::1': expected [IPv6]:PORT, e.g. '[::1]:8080'"],
    [['-l', ':http', 'true'], "sockact: -l ':http': 'http' is not a port number"],
    [['-l', '127.0.0.1', 'true'], "sockact: -l '127.0.0.1': the port is missing: '127.0.0.1:PORT'"],
    [
      ['-l', 'app.sock', 'true'],
      "sockact: -l 'app.sock': not a PORT, IPv4:PORT, [IPv6]:PORT, /path or @name (a relative path starts with ./)",
    ],
    [
      ['--seqpacket', '-l', '0', 'true'],
      "sockact: --seqpacket may not be combined with -l '0' (seqpacket sockets need a UNIX address: /path or @name)",
    ],
    [['-a', '--on-demand', '-l', '0', 'true'], 'sockact: --accept may not be combined with --on-demand'],
  ])('exits 2 for a usage error, in one line naming the option and the value: %j', async (args, message) => {
    const r = sockact(args);
    expect((await r.exited).code).toBe(2);
    const lines = r.stderr.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]!.startsWith(message)).toBe(true);
    expect(lines[1]).toBe("Try 'sockact --help' for more information.");
  });

  it('shows options, examples and the wrapper advice with --help, and the version with --version', async () => {
    const help = sockact(['--help']);
    expect((await help.exited).code).toBe(0);
    expect(help.stdout).toContain('Usage: sockact [options] [--] PROGRAM [ARGS...]');
    expect(help.stdout).toContain('--listen');
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('"start": "sockact -l 8080 -- node server.js"');
    expect(help.stdout).toContain('Wrappers break LISTEN_PID');
    expect(help.stdout).toContain('sockact --wrapper -l 8080 -- npm start');
    const version = sockact(['--version']);
    expect((await version.exited).code).toBe(0);
    expect(version.stdout).toBe(`${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`);
  });
});

describe('sockact: what the program gets', () => {
  it('exactly fds 0-2 and its sockets, its own LISTEN_PID, -E variables, and none of the stale ones', async () => {
    const stale = {
      LISTEN_PID: String(process.pid),
      LISTEN_FDS: '2',
      LISTEN_FDNAMES: 'a:b',
      NOTIFY_SOCKET: '/run/x',
      WATCHDOG_USEC: '5',
      WATCHDOG_PID: '1',
      SOCKACT_FDS_SOCKET: '/run/y',
    };
    const vars = [
      'LISTEN_PID',
      'LISTEN_FDS',
      'LISTEN_FDNAMES',
      'NOTIFY_SOCKET',
      'WATCHDOG_USEC',
      'WATCHDOG_PID',
      'SOCKACT_FDS_SOCKET',
      'SET',
      'COPIED',
      'EMPTY',
    ];
    const r = sockact(
      [
        '-q',
        '-l',
        '127.0.0.1:0',
        '-l',
        '[::1]:0,name=v6',
        '-E',
        'SET=1',
        '-E',
        'COPIED',
        '-E',
        'EMPTY=',
        '--',
        PYTHON,
        FD_LISTER_PY,
        ...vars,
      ],
      {
        env: { ...process.env, ...stale, COPIED: 'from sockact' },
      },
    );
    expect((await r.exited).code).toBe(0);
    const seen = JSON.parse(r.stdout);
    expect(Object.keys(seen.fds).map(Number)).toEqual([0, 1, 2, 3, 4]);
    // NOTIFY_SOCKET is sockact's own receiver for this child (a private 0700 directory), never the stale one.
    expect(seen.env.NOTIFY_SOCKET).toMatch(/\/sockact-notify-[^/]+\/\d+\.sock$/);
    expect(seen.env).toEqual({
      LISTEN_PID: String(seen.pid),
      LISTEN_FDS: '2',
      LISTEN_FDNAMES: 'unknown:v6',
      NOTIFY_SOCKET: seen.env.NOTIFY_SOCKET,
      WATCHDOG_USEC: null,
      WATCHDOG_PID: null,
      SOCKACT_FDS_SOCKET: null,
      SET: '1',
      COPIED: 'from sockact',
      EMPTY: '',
    });
  });

  itAsRoot('binds first, then runs the program as --user and --group, with that user in USER and HOME', async () => {
    // nobody, with gid 65534, in a directory only root may enter: the socket there can only have
    // been made before the program dropped its privileges.
    const d = dir();
    const path = join(d, 'app.sock');
    const [user, group] = ['nobody', '65534'];
    const check = join(import.meta.dirname, 'fixtures/as-user-report.py');
    const r = sockact(['-q', '-l', path, '--user', user, '--group', group, '--', PYTHON, check, d]);
    expect((await r.exited).code).toBe(0);
    const [uid, gid, groups, name, local, canWrite] = JSON.parse(r.stdout);
    expect(local).toBe(path);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    expect([uid, gid, groups, name, canWrite]).toEqual([65534, 65534, [], 'nobody', false]);
  });

  it('passes everything after PROGRAM to it, options included, and starts it at once with --now', async () => {
    const argv = join(ROOT, 'test/_support/print-argv.py');
    const r = sockact(['--now', '-l', '127.0.0.1:0', PYTHON, argv, '-l', 'x', '--port', '3', '-q', '--', '--help']);
    expect((await r.exited).code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['-l', 'x', '--port', '3', '-q', '--', '--help']);
    // The -q after PROGRAM was the program's: sockact still reported, and did not wait.
    expect(r.stderr).toMatch(/^sockact: listening on .*\nsockact: started /);
  });

  it('does not pass on fds sockact itself inherited without LISTEN_*, even ones without close-on-exec', async () => {
    const devnull = openSync('/dev/null', 'r');
    defer(() => closeSync(devnull));
    // sockact gets /dev/null at fd 3 (where an activated launcher would have a socket) and fd 20.
    const stdio = ['ignore', 'pipe', 'pipe', devnull, ...Array<'ignore'>(16).fill('ignore'), devnull] as const;
    const r = sockact(['-q', '-l', '127.0.0.1:0', '--', PYTHON, FD_LISTER_PY], { stdio: [...stdio] });
    expect((await r.exited).code).toBe(0);
    const seen = JSON.parse(r.stdout);
    expect(Object.keys(seen.fds).map(Number)).toEqual([0, 1, 2, 3]);
    expect(seen.fds['3'].target).toMatch(/^socket:\[\d+\]$/);
  });

  it('with --inetd alone, puts the listening socket itself on stdin and stdout, without LISTEN_*', async () => {
    // stdout is the socket now: the lister prints to stderr instead, and looks at fd 1 first.
    const lister =
      `import os, sys; sys.stdout = sys.stderr\n` +
      `${FD_LISTER}\n` +
      `print(json.dumps(os.readlink('/proc/self/fd/1')))`;
    const r = sockact(['-q', '--inetd', '-l', '127.0.0.1:0', '--', PYTHON, '-c', lister, 'LISTEN_FDS']);
    expect((await r.exited).code).toBe(0);
    const [line, stdoutTarget] = r.stderr.trimEnd().split('\n');
    const seen = JSON.parse(line!);
    expect(JSON.parse(stdoutTarget!)).toBe(seen.fds['0'].target);
    expect(seen.fds['0'].target).toMatch(/^socket:\[\d+\]$/);
    expect(Object.keys(seen.fds).map(Number)).toEqual([0, 1, 2]);
    expect(seen.env).toEqual({ LISTEN_FDS: null });
  });

  it('removes socket files when it exits with --remove-on-exit, except those that opt out', async () => {
    const d = dir();
    const r = sockact([
      '-q',
      '--remove-on-exit',
      '-l',
      join(d, 'a.sock'),
      '-l',
      join(d, 'b.sock'),
      '-l',
      `${join(d, 'kept.sock')},remove-on-exit=no`,
      'true',
    ]);
    expect((await r.exited).code).toBe(0);
    expect(['a.sock', 'b.sock', 'kept.sock'].map((f) => existsSync(join(d, f)))).toEqual([false, false, true]);
  });

  it(
    'gives one -l its own backlog, the others --backlog ' + 'or the default (net.core.somaxconn), as ss shows',
    async () => {
      // ss is the program: it lists the listening sockets while sockact and it hold them. For a
      // listening TCP socket, ss's Send-Q is the backlog the kernel uses.
      const backlogs = async (args: string[]) => {
        const r = sockact([...args, '--', 'ss', '-Hltn']);
        expect((await r.exited).code).toBe(0);
        const ports = [...r.stderr.matchAll(/listening on (\S+) as fd/g)].map((m) => m[1]!);
        return ports.map((p) =>
          Number(
            new RegExp(`^LISTEN\\s+\\d+\\s+(\\d+)\\s+${p.replace(/[.[\]]/g, '\\$&')}\\s`, 'm').exec(r.stdout)?.[1],
          ),
        );
      };
      const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
      // The default (4096, capped by somaxconn) must be above Node's 511 for the last row to prove it.
      expect(Math.min(4096, somaxconn), 'net.core.somaxconn must exceed 511').toBeGreaterThan(511);
      expect(
        await backlogs(['--backlog', '9', '-l', '127.0.0.1:0,backlog=7', '-l', '127.0.0.1:0', '-l', '[::1]:0']),
      ).toEqual([7, 9, 9]);
      expect(await backlogs(['-l', '127.0.0.1:0,backlog=7', '-l', '127.0.0.1:0'])).toEqual([7, somaxconn]);
    },
  );

  it('keeps its own copy of the socket: a client connects after the program closed its listener', async () => {
    // The program closes fd 3, says so, and waits; the connection still completes (the backlog is sockact's).
    const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, join(import.meta.dirname, 'fixtures/close-fd3.py')]);
    const target = hostPort(await listeningOn(r));
    await r.waitFor('stdout', /closed/);
    await new Promise<void>((res, rej) => {
      const c = connect(target, () => {
        c.destroy();
        res();
      });
      c.on('error', rej);
    });
    r.child.kill('SIGTERM');
    await r.ended('SIGTERM');
  });

  it('reports the port it got for port 0', async () => {
    const r = sockact(['-l', '127.0.0.1:0', '--', 'sh', '-c', 'exit 0']);
    const { port } = hostPort(await listeningOn(r));
    expect(port).toBeGreaterThan(0);
    await r.exited;
  });
});
