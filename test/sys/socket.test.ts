// The seam's socket calls against the real kernel, cross-checked with Node's own net module.
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as sys from '../../src/sys/index.js';
import { fdFlags } from '../_support/fdinfo.js';
import { abstractName, fileTempDir } from '../_support/tmp.js';

const dir = fileTempDir();

describe('socket, bind, listenSocket, getsockname, socketInfo', () => {
  // [family, type, address to bind, listen?, what the row proves]
  const rows: [sys.SocketFamily, sys.SocketType, sys.SockAddr, boolean, string][] = [
    ['inet', 'stream', { family: 'inet', address: '127.0.0.1', port: 0 }, true, 'TCP over IPv4'],
    ['inet6', 'stream', { family: 'inet6', address: '::1', port: 0 }, true, 'TCP over IPv6'],
    ['inet', 'dgram', { family: 'inet', address: '127.0.0.1', port: 0 }, false, 'UDP is bound, not listening'],
    ['unix', 'stream', { family: 'unix', path: path.join(dir, 'a.sock') }, true, 'a UNIX stream path'],
    ['unix', 'seqpacket', { family: 'unix', path: abstractName('sys') }, true, 'abstract seqpacket'],
    ['unix', 'dgram', { family: 'unix', path: path.join(dir, 'd.sock') }, false, 'a UNIX datagram path'],
  ];
  for (const [family, type, addr, doListen, proves] of rows) {
    it(proves, () => {
      const fd = sys.socket(family, type);
      try {
        sys.bind(fd, addr);
        if (doListen) sys.listenSocket(fd, 8);
        const info = sys.socketInfo(fd);
        expect(info).toMatchObject({ type, family, listening: doListen });
        if (addr.family === 'unix') expect(info.local).toEqual(addr);
        else expect((info.local as { port: number }).port).toBeGreaterThan(0);
        expect(info.protocol).toBe(family === 'unix' ? 0 : type === 'stream' ? 6 : 17);
        // Sockets made by the seam are close-on-exec and blocking, as systemd makes them.
        expect(fdFlags(fd)).toEqual({ cloexec: true, nonblock: false });
        expect(sys.fileKind(fd)).toBe('socket');
      } finally {
        sys.closeFd(fd);
      }
    });
  }

  it('accept() takes a connection made by Node, with its peer address', async () => {
    const fd = sys.socket('inet', 'stream');
    sys.bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
    sys.listenSocket(fd, 8);
    const { port } = sys.getsockname(fd) as { port: number };
    const client = net.connect(port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    const conn = sys.accept(fd);
    expect(conn.peer).toEqual({ family: 'inet', address: '127.0.0.1', port: client.localPort });
    expect(sys.getpeername(conn.fd)).toEqual(conn.peer);
    expect(sys.socketInfo(conn.fd)).toMatchObject({ type: 'stream', listening: false });
    client.destroy();
    sys.closeFd(conn.fd);
    sys.closeFd(fd);
  });

  it("errors look like Node's own and say what was being done", () => {
    const a = sys.socket('inet', 'stream');
    const b = sys.socket('inet', 'stream');
    sys.bind(a, { family: 'inet', address: '127.0.0.1', port: 0 });
    sys.listenSocket(a, 1);
    const { port } = sys.getsockname(a) as { port: number };
    let err: sys.SysError | undefined;
    try {
      sys.bind(b, { family: 'inet', address: '127.0.0.1', port });
    } catch (e) {
      err = e as sys.SysError;
    }
    expect(err).toMatchObject({
      code: 'EADDRINUSE',
      errno: -98,
      syscall: 'bind',
      fd: b,
      message: `bind 127.0.0.1:${port}: address already in use`,
    });
    sys.closeFd(a);
    sys.closeFd(b);
  });

  it('setsockopt/getsockopt round-trip an int option', () => {
    const fd = sys.socket('inet', 'stream');
    sys.setsockoptInt(fd, sys.SOL_SOCKET, sys.SO_REUSEADDR, 1);
    expect(sys.getsockoptInt(fd, sys.SOL_SOCKET, sys.SO_REUSEADDR)).toBe(1);
    expect(sys.getsockoptBytes(fd, sys.SOL_SOCKET, sys.SO_TYPE, 4).readInt32LE(0)).toBe(sys.SOCK_STREAM);
    sys.closeFd(fd);
  });

  it('if_nametoindex knows lo and names an unknown interface', () => {
    expect(sys.ifNameToIndex('lo')).toBe(1);
    expect(() => sys.ifNameToIndex('nosuchif0')).toThrow(/^network interface 'nosuchif0': /);
  });
});

describe('shutdownSocket and dupFd', () => {
  it('shutdown through a close-on-exec copy ends the connection for the fd that stays open too', () => {
    const [a, b] = sys.socketpair('stream', sys.SOCK_CLOEXEC | sys.SOCK_NONBLOCK);
    const copy = sys.dupFd(a);
    expect(copy).toBeGreaterThanOrEqual(3);
    expect(sys.isCloexec(copy)).toBe(true);
    sys.shutdownSocket(copy);
    sys.closeFd(copy);
    const buf = Buffer.alloc(8);
    // a is still open, yet b sees the end of the stream (read returns 0), and a cannot write.
    expect(sys.readFd(b, buf)).toBe(0);
    expect(() => sys.writeFd(a, Buffer.from('x'))).toThrow(/broken pipe/);
    // Again on a connection already ended: not an error.
    expect(() => sys.shutdownSocket(a)).not.toThrow();
    for (const fd of [a, b]) sys.closeFd(fd);
  });
});
