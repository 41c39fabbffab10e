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
    const got = inNetns(4096, 0, sockact('-l', '8080', '-l', join(d, 's.sock'), '-l', '8081,dgram', '-l', `${join(d, 'd.sock')},dgram`));
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

  it.each([8192, 1000])('the default backlog follows net.core.somaxconn (%i), for TCP and UNIX, as with systemd-socket-activate', (somaxconn) => {
    const d = dir();
    const got = inNetns(somaxconn, 0, sockact('-l', '8080', '-l', join(d, 's.sock')));
    expect(got.map((f) => f.backlog)).toEqual([somaxconn, somaxconn]);
    if (existsSync(SA)) {
      const peer = inNetns(somaxconn, 0, [SA, '-l', '8080', '-l', join(d, 'p.sock')]);
      expect(peer.map((f) => f.backlog)).toEqual([somaxconn, somaxconn]);
    }
  });

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
