import { createSocket } from 'node:dgram';
import {
  chmodSync,
  existsSync,
  lstatSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bindAll, bindSocket, closeSockets, removeOnExit, type BoundSocket } from '../../src/launch/bind.js';
import { SockactError } from '../../src/protocol/errors.js';
import { lookupUser } from '../../src/launch/ids.js';
import { parseListen } from '../../src/protocol/address.js';
import {
  getsockoptInt,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  recvmsg,
  type Received,
  socketInfo,
  SOL_SOCKET,
  SO_REUSEPORT,
} from '../../src/sys/index.js';
import { abstractName, tempDir } from '../_support/tmp.js';
import { fdFlags } from '../_support/fdinfo.js';
import { itAsRoot } from '../_support/root.js';
import { waitUntil } from '../_support/wait.js';

const open: BoundSocket[] = [];
const dirs: (() => void)[] = [];
afterEach(() => {
  closeSockets(open.splice(0));
  for (const c of dirs.splice(0)) c();
});

function bound(text: string): BoundSocket {
  const s = bindSocket(parseListen(text));
  open.push(s);
  return s;
}

function dir(): string {
  const t = tempDir();
  dirs.push(t.cleanup);
  return t.dir;
}

function port(s: BoundSocket): number {
  if (s.local.family === 'unix') throw new Error('not an IP socket');
  return s.local.port;
}

/** Connect and resolve once the kernel completed the handshake (the socket is in the backlog). */
function connects(host: string, p: number): Promise<void> {
  return new Promise((res, rej) => {
    const c = connect({ host, port: p }, () => {
      c.destroy();
      res();
    });
    c.on('error', rej);
  });
}

function connectsPath(path: string): Promise<void> {
  return new Promise((res, rej) => {
    const c = connect({ path }, () => {
      c.destroy();
      res();
    });
    c.on('error', rej);
  });
}

function bindError(text: string): SockactError {
  try {
    bound(text);
  } catch (err) {
    expect(err).toBeInstanceOf(SockactError);
    return err as SockactError;
  }
  throw new Error(`${text} bound`);
}

describe('bindSocket', () => {
  it('makes a blocking, close-on-exec TCP listener on the port the kernel chose', async () => {
    const s = bound('127.0.0.1:0');
    expect(port(s)).toBeGreaterThan(0);
    expect(s.label).toBe(`127.0.0.1:${port(s)}`);
    expect(socketInfo(s.fd)).toMatchObject({ type: 'stream', family: 'inet', listening: true, protocol: 6 });
    expect(fdFlags(s.fd)).toEqual({ cloexec: true, nonblock: false });
    // Nobody accepts, yet the handshake completes: the connection waits in the backlog.
    await connects('127.0.0.1', port(s));
  });

  it('binds a bare port dual-stack: [::] with IPV6_V6ONLY=0 takes IPv4 connections too', async () => {
    const s = bound('0');
    expect(s.local).toMatchObject({ family: 'inet6', address: '::' });
    expect(getsockoptInt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY)).toBe(0);
    await connects('127.0.0.1', port(s));
    await connects('::1', port(s));
  });

  it('sets IPV6_V6ONLY with v6only: IPv4 is refused', async () => {
    const s = bound('[::]:0,v6only');
    expect(getsockoptInt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY)).toBe(1);
    await connects('::1', port(s));
    await expect(connects('127.0.0.1', port(s))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('binds IPv6 loopback', () => {
    const s = bound('[::1]:0');
    expect(s.label).toBe(`[::1]:${port(s)}`);
    expect(socketInfo(s.fd)).toMatchObject({ family: 'inet6', listening: true });
  });

  it('binds UDP without listening; datagrams wait in the socket', async () => {
    const s = bound('127.0.0.1:0,dgram');
    expect(socketInfo(s.fd)).toMatchObject({ type: 'dgram', family: 'inet', listening: false, protocol: 17 });
    const sender = createSocket('udp4');
    await new Promise<void>((res, rej) => sender.send('ping', port(s), '127.0.0.1', (e) => (e ? rej(e) : res())));
    sender.close();
    let got: Received | undefined;
    await waitUntil(
      'the datagram in the bound UDP socket',
      () => {
        got = recvmsg(s.fd);
        return got !== undefined;
      },
      { every: 5 },
    );
    expect(got?.data.toString()).toBe('ping');
  });

  it('binds UNIX seqpacket and abstract sockets', () => {
    const path = join(dir(), 'sp.sock');
    expect(socketInfo(bound(`${path},seqpacket`).fd)).toMatchObject({
      type: 'seqpacket',
      family: 'unix',
      listening: true,
    });
    const name = abstractName('bind');
    const a = bound(name);
    expect(a.label).toBe(name);
    expect(a.path).toBeUndefined();
    expect(socketInfo(a.fd)).toMatchObject({ type: 'stream', family: 'unix', listening: true, local: { path: name } });
  });

  it('gives a UNIX socket file mode 0666 by default whatever the umask, and creates parents 0755', () => {
    const base = dir();
    const path = join(base, 'a', 'b', 'app.sock');
    const old = process.umask(0o077);
    try {
      bound(path);
    } finally {
      process.umask(old);
    }
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o666);
    expect(statSync(join(base, 'a')).mode & 0o777).toBe(0o755);
    expect(statSync(join(base, 'a', 'b')).mode & 0o777).toBe(0o755);
    expect(statSync(base).mode & 0o777).toBe(0o700); // an existing directory is left as it is
    expect(process.umask()).toBe(old);
  });

  itAsRoot('applies mode= exactly and chowns with user= and group=', () => {
    const path = join(dir(), 'app.sock');
    // Give the file away to nobody: chowning to ourselves would not show that the chown happened.
    const who = lookupUser('nobody');
    expect([who.uid, who.gid]).not.toEqual([process.getuid!(), process.getgid!()]);
    bound(`${path},mode=0640,user=${who.uid},group=${who.gid}`);
    const st = statSync(path);
    expect(st.mode & 0o777).toBe(0o640);
    expect([st.uid, st.gid]).toEqual([who.uid, who.gid]);
  });

  it('refuses an existing regular file and leaves it alone, remove-stale or not', () => {
    const path = join(dir(), 'data');
    writeFileSync(path, 'precious');
    const err = bindError(`${path},remove-stale`);
    expect(err.message).toBe(
      `can't listen on ${path}: it exists and is a regular file, not a stale socket: sockact never removes it`,
    );
    expect(err.address).toBe(path);
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  it('refuses a symlink, even one to a socket, and removes neither', () => {
    const d = dir();
    const target = join(d, 'real.sock');
    bound(target);
    const link = join(d, 'link.sock');
    symlinkSync(target, link);
    const err = bindError(`${link},remove-stale`);
    expect(err.message).toContain('it is a symlink');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(lstatSync(target).isSocket()).toBe(true);
  });

  it('replaces a stale socket file only with remove-stale', async () => {
    const path = join(dir(), 'stale.sock');
    const first = bound(path);
    closeSockets([first], false);
    open.splice(open.indexOf(first), 1);
    // Stale: a socket file nobody listens on.
    await expect(connectsPath(path)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const err = bindError(path);
    expect(err.message).toBe(
      `can't listen on ${path}: a socket file already exists ` +
        `(add ,remove-stale or --remove-stale to replace a stale one)`,
    );
    expect(err.code).toBe('EADDRINUSE');
    const again = bound(`${path},remove-stale`);
    expect(socketInfo(again.fd).listening).toBe(true);
    await connectsPath(path);
  });

  it('names the address and the reason when the port is in use', () => {
    const s = bound('127.0.0.1:0');
    const err = bindError(`127.0.0.1:${port(s)}`);
    expect(err.message).toBe(`can't listen on 127.0.0.1:${port(s)}: address already in use`);
    expect(err.code).toBe('EADDRINUSE');
    expect(err.exitCode).toBeUndefined(); // the sockact command's default: exit 1
    expect((err.cause as { syscall: string }).syscall).toBe('bind');
  });

  it('lets two sockets share a port with reuse-port', () => {
    const a = bound('127.0.0.1:0,reuse-port');
    const b = bound(`127.0.0.1:${port(a)},reuse-port`);
    expect(port(b)).toBe(port(a));
    expect(getsockoptInt(b.fd, SOL_SOCKET, SO_REUSEPORT)).toBe(1);
  });

  it('binds an address not configured here with freebind, and says why without it', () => {
    // 192.0.2.0/24 is TEST-NET-1: never local, and nothing is sent to it.
    const err = bindError('192.0.2.1:0');
    expect(err.message).toBe("can't listen on 192.0.2.1:0: address not available");
    expect(bound('192.0.2.1:0,freebind').label).toMatch(/^192\.0\.2\.1:\d+$/);
  });

  it('names an unknown interface in [v6%dev]', () => {
    expect(bindError('[::1%nosuchdev0]:0').message).toBe(
      "can't listen on [::1%nosuchdev0]:0: network interface 'nosuchdev0': no such device",
    );
  });
});

describe('bindAll', () => {
  it('binds in order, all or nothing: a failure closes and removes what was made before it', async () => {
    const d = dir();
    const used = bound('127.0.0.1:0');
    const ok = parseListen('127.0.0.1:0');
    const path = join(d, 'first.sock');
    expect(() => bindAll([parseListen(path), ok, parseListen(`127.0.0.1:${port(used)}`)])).toThrow(
      'address already in use',
    );
    expect(existsSync(path)).toBe(false);
    const all = bindAll([parseListen(path), ok]);
    open.push(...all);
    expect(all.map((s) => s.path)).toEqual([path, undefined]);
  });

  it('removes remove-on-exit files only, and only while they are sockets', () => {
    const d = dir();
    const keep = join(d, 'keep.sock');
    const gone = join(d, 'gone.sock');
    const all = bindAll([parseListen(keep), parseListen(`${gone},remove-on-exit`)]);
    open.push(...all);
    removeOnExit(all);
    expect(existsSync(keep)).toBe(true);
    expect(existsSync(gone)).toBe(false);
    // Someone replaced the path with a file meanwhile: it is not ours to delete.
    writeFileSync(gone, 'x');
    chmodSync(gone, 0o600);
    removeOnExit(all);
    expect(readFileSync(gone, 'utf8')).toBe('x');
    // A symlink to a socket elsewhere: neither the link nor its target is ours to delete.
    unlinkSync(gone);
    const elsewhere = bindAll([parseListen(join(d, 'elsewhere.sock'))]);
    open.push(...elsewhere);
    symlinkSync(join(d, 'elsewhere.sock'), gone);
    removeOnExit(all);
    expect(lstatSync(gone).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(d, 'elsewhere.sock')).isSocket()).toBe(true);
  });
});
