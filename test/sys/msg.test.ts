// sendmsg/recvmsg with SCM_RIGHTS and SCM_CREDENTIALS between real sockets.
import { fstatSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as sys from '../../src/sys/index.js';
import { abstractName } from '../_support/tmp.js';

describe('sendmsg / recvmsg', () => {
  it('passes fds (SCM_RIGHTS) that arrive close-on-exec and refer to the same files', () => {
    const [a, b] = sys.socketpair('dgram');
    const [r, w] = sys.pipe(0);
    expect(sys.sendmsg(a, Buffer.from('FDSTORE=1'), { fds: [r, w] })).toBe(9);
    const got = sys.recvmsg(b)!;
    expect(got.data.toString()).toBe('FDSTORE=1');
    expect(got.fds).toHaveLength(2);
    expect(got.fds.map((fd) => fstatSync(fd).ino)).toEqual([fstatSync(r).ino, fstatSync(w).ino]);
    expect(got.fds.every((fd) => sys.isCloexec(fd))).toBe(true);
    for (const fd of [a, b, r, w, ...got.fds]) sys.closeFd(fd);
  });

  it('attaches and receives SCM_CREDENTIALS (with SO_PASSCRED)', () => {
    const [a, b] = sys.socketpair('dgram');
    sys.setsockoptInt(b, sys.SOL_SOCKET, sys.SO_PASSCRED, 1);
    const creds = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    sys.sendmsg(a, Buffer.from('READY=1'), { credentials: creds });
    expect(sys.recvmsg(b)!.credentials).toEqual(creds);
    // Without explicit credentials, the kernel fills in the sender's own.
    sys.sendmsg(a, Buffer.from('READY=1'));
    expect(sys.recvmsg(b)!.credentials).toEqual(creds);
    sys.closeFd(a);
    sys.closeFd(b);
  });

  it('sends to an address (sendto) and reports where a datagram came from', () => {
    const name = abstractName('msg');
    const from = abstractName('msg-from');
    const rx = sys.socket('unix', 'dgram');
    sys.bind(rx, { family: 'unix', path: name });
    const tx = sys.socket('unix', 'dgram');
    sys.bind(tx, { family: 'unix', path: from });
    sys.sendmsg(tx, Buffer.from('hello'), { to: { family: 'unix', path: name } });
    const got = sys.recvmsg(rx)!;
    expect(got.data.toString()).toBe('hello');
    expect(got.from).toEqual({ family: 'unix', path: from });
    sys.closeFd(rx);
    sys.closeFd(tx);
  });

  it('returns undefined when nothing is queued, and flags truncation', () => {
    const [a, b] = sys.socketpair('dgram');
    expect(sys.recvmsg(b)).toBeUndefined();
    sys.sendmsg(a, Buffer.alloc(100, 0x41));
    const got = sys.recvmsg(b, 10)!;
    expect(got.truncated).toBe(true);
    expect(got.data.length).toBe(10);
    sys.closeFd(a);
    sys.closeFd(b);
  });

  it('refuses more than 253 fds in one message (SCM_MAX_FD) with a line that says so, not EINVAL', () => {
    const [a, b] = sys.socketpair('seqpacket');
    expect(sys.sendmsg(a, Buffer.from('x'), { fds: Array(253).fill(0) })).toBe(1);
    const got = sys.recvmsg(b, 16, 253)!;
    expect(got.fds).toHaveLength(253);
    for (const fd of got.fds) sys.closeFd(fd);
    expect(() => sys.sendmsg(a, Buffer.from('x'), { fds: Array(254).fill(0) })).toThrow(
      expect.objectContaining({
        code: 'EINVAL',
        message: `can't pass 254 fds in one message on fd ${a} (at most 253, SCM_MAX_FD)`,
      }),
    );
    sys.closeFd(a);
    sys.closeFd(b);
  });

  it('names the destination when sending fails', () => {
    const tx = sys.socket('unix', 'dgram');
    expect(() =>
      sys.sendmsg(tx, Buffer.from('x'), { to: { family: 'unix', path: '/nonexistent/sockact.sock' } }),
    ).toThrow(
      expect.objectContaining({
        code: 'ENOENT',
        syscall: 'sendmsg',
        message: 'send to /nonexistent/sockact.sock: no such file or directory',
      }),
    );
    sys.closeFd(tx);
  });
});
