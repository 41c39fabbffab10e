// Socket options as systemd's socket_address_listen() sets them, side by side with
// systemd-socket-activate 252 on the same sysctls: each run gets a network namespace of its own
// (unshare -n, root only) where net.core.somaxconn and net.ipv6.bindv6only are set without
// touching the host's, and the program reports what it finds on fds 3.. (getsockopt, ss).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { perTest, PYTHON, ROOT, SOCKACT } from '../_support/launcher.js';

const DRIVER = join(ROOT, 'test/_support/netns-sockopts.py');
const SA = '/usr/bin/systemd-socket-activate';
const canUnshare = process.getuid!() === 0 && spawnSync('unshare', ['-n', 'true']).status === 0;
const { dir } = perTest();

interface Found {
  family: string;
  type: string;
  reuseaddr: number;
  v6only?: number;
  backlog?: number;
}

function inNetns(somaxconn: number, bindv6only: 0 | 1, launcher: string[]): Found[] {
  const r = spawnSync('unshare', ['-n', PYTHON, DRIVER, String(somaxconn), String(bindv6only), ...launcher], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (r.status !== 0) throw new Error(`${launcher.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Found[];
}

const sockact = (...args: string[]) => [process.execPath, SOCKACT, '-q', ...args];

describe.runIf(canUnshare)('socket options, as systemd-socket-activate sets them', () => {
  it('SO_REUSEADDR on every socket (TCP, UDP, UNIX stream and datagram)', () => {
    const d = dir();
    const got = inNetns(
      4096,
      0,
      sockact('-l', '8080', '-l', join(d, 's.sock'), '-l', '8081,dgram', '-l', `${join(d, 'd.sock')},dgram`),
    );
    expect(got.map((f) => [f.family, f.type, f.reuseaddr])).toEqual([
      ['inet6', 'stream', 1],
      ['unix', 'stream', 1],
      ['inet6', 'dgram', 1],
      ['unix', 'dgram', 1],
    ]);
  });

  it.runIf(existsSync(SA))('systemd-socket-activate 252 sets it on the same kinds of socket', () => {
    const d = dir();
    const stream = inNetns(4096, 0, [SA, '-l', '8080', '-l', join(d, 's.sock')]);
    const dgram = inNetns(4096, 0, [SA, '-d', '-l', '8081', '-l', join(d, 'd.sock')]);
    expect([...stream, ...dgram].map((f) => f.reuseaddr)).toEqual([1, 1, 1, 1]);
  });

  it.each([8192, 1000])(
    'the default backlog follows net.core.somaxconn (%i), for TCP and UNIX, as with systemd-socket-activate',
    (somaxconn) => {
      const d = dir();
      const got = inNetns(somaxconn, 0, sockact('-l', '8080', '-l', join(d, 's.sock')));
      expect(got.map((f) => f.backlog)).toEqual([somaxconn, somaxconn]);
      if (existsSync(SA)) {
        const peer = inNetns(somaxconn, 0, [SA, '-l', '8080', '-l', join(d, 'p.sock')]);
        expect(peer.map((f) => f.backlog)).toEqual([somaxconn, somaxconn]);
      }
    },
  );

  it('backlog= still sets it', () => {
    expect(inNetns(8192, 0, sockact('-l', '8080,backlog=100'))[0]!.backlog).toBe(100);
  });

  it.each<[0 | 1, number]>([
    [0, 0],
    [1, 1],
  ])('-l PORT follows net.ipv6.bindv6only=%i (IPV6_V6ONLY %i), as BindIPv6Only=default does', (sysctl, expected) => {
    expect(inNetns(4096, sysctl, sockact('-l', '8080'))[0]!.v6only).toBe(expected);
    if (existsSync(SA)) expect(inNetns(4096, sysctl, [SA, '-l', '8080'])[0]!.v6only).toBe(expected);
  });

  it('v6only and v6only=no override the sysctl either way', () => {
    expect(inNetns(4096, 0, sockact('-l', '8080,v6only'))[0]!.v6only).toBe(1);
    expect(inNetns(4096, 1, sockact('-l', '8080,v6only=no'))[0]!.v6only).toBe(0);
  });
});

describe.runIf(canUnshare)('%dev after the port, as systemd.socket writes it', () => {
  /** ss's view of what `sockact -l ADDR` listens on, in a namespace where lo also holds the link-local fe80::5. */
  const listening = (addr: string) => {
    const setup = 'ip link set lo up && ip addr add fe80::5/64 dev lo nodad';
    const r = spawnSync(
      'unshare',
      [
        '-n',
        'sh',
        '-c',
        `${setup} && exec "$@"`,
        'sh',
        process.execPath,
        SOCKACT,
        '-q',
        '-l',
        addr,
        '--',
        'ss',
        '-ltnH',
      ],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    return { code: r.status, local: r.stdout.split(/\s+/)[3], stderr: r.stderr };
  };

  it('[v6]:PORT%dev binds with that scope, like [v6%dev]:PORT', () => {
    expect(listening('[fe80::5]:8080%lo').local).toBe('[fe80::5]%lo:8080');
    expect(listening('[fe80::5%lo]:8080').local).toBe('[fe80::5]%lo:8080');
  });

  it('a.b.c.d:PORT%dev checks that dev exists and binds on every interface, as systemd does', () => {
    expect(listening('127.0.0.1:8080%lo').local).toBe('127.0.0.1:8080');
    const r = listening('127.0.0.1:8080%nosuchdev0');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "sockact: can't listen on 127.0.0.1:8080%nosuchdev0: network interface 'nosuchdev0': no such device\n",
    );
  });

  it.runIf(existsSync(SA))('systemd-socket-activate 252 binds the same for both forms', () => {
    const sa = (addr: string) => {
      const setup = 'ip link set lo up && ip addr add fe80::5/64 dev lo nodad';
      const r = spawnSync(
        'unshare',
        [
          '-n',
          'sh',
          '-c',
          `${setup} && { timeout 2 ${SA} -l "$1" true 2>/dev/null & sleep 0.5; ss -ltnH; wait; }`,
          'sh',
          addr,
        ],
        {
          encoding: 'utf8',
          timeout: 20_000,
        },
      );
      return r.stdout.split(/\s+/)[3];
    };
    expect(sa('[fe80::5]:8080%lo')).toBe('[fe80::5]%lo:8080');
    expect(sa('127.0.0.1:8080%lo')).toBe('127.0.0.1:8080');
  });
});
