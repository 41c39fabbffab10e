import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  ENOTCONN,
  SHUT_RDWR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOCKADDR_STORAGE_SIZE,
  SOL_SOCKET,
  SO_ACCEPTCONN,
  SO_DOMAIN,
  SO_PEERCRED,
  SO_PROTOCOL,
  SO_TYPE,
} from './constants.js';
import { sysError } from './errors.js';
import { lastErrno, libc } from './libc.js';
import {
  decodeSockAddr,
  encodeSockAddr,
  formatSockAddr,
  type SockAddr,
  type SocketFamily,
  type SocketType,
} from '../protocol/sockaddr.js';

export type { SocketFamily, SocketType };

const TYPE_NUM: Record<SocketType, number> = { stream: SOCK_STREAM, dgram: SOCK_DGRAM, seqpacket: SOCK_SEQPACKET };
const FAMILY_NUM: Record<SocketFamily, number> = { inet: AF_INET, inet6: AF_INET6, unix: AF_UNIX };

export function socketTypeName(n: number): SocketType | undefined {
  return n === SOCK_STREAM ? 'stream' : n === SOCK_DGRAM ? 'dgram' : n === SOCK_SEQPACKET ? 'seqpacket' : undefined;
}

export function familyName(n: number): SocketFamily | undefined {
  return n === AF_INET ? 'inet' : n === AF_INET6 ? 'inet6' : n === AF_UNIX ? 'unix' : undefined;
}

function check(r: number, syscall: string, what: string, fd?: number): number {
  if (r < 0) throw sysError(syscall, lastErrno(), what, fd);
  return r;
}

/**
 * socket(2), always close-on-exec: a fd reaches a child only when it is placed there on purpose.
 * Blocking unless `flags` says otherwise, as systemd creates listening sockets.
 */
export function socket(family: SocketFamily, type: SocketType, flags = 0): number {
  return check(
    libc().socket(FAMILY_NUM[family], TYPE_NUM[type] | SOCK_CLOEXEC | flags, 0),
    'socket',
    `socket(${family}, ${type})`,
  );
}

/** socketpair(AF_UNIX), close-on-exec. */
export function socketpair(type: SocketType, flags = 0): [number, number] {
  const sv = new Int32Array(2);
  check(libc().socketpair(AF_UNIX, TYPE_NUM[type] | SOCK_CLOEXEC | flags, 0, sv), 'socketpair', 'socketpair');
  return [sv[0]!, sv[1]!];
}

export function setsockoptInt(
  fd: number,
  level: number,
  name: number,
  value: number,
  what = `setsockopt on fd ${fd}`,
): void {
  const v = new Int32Array([value]);
  check(libc().setsockopt(fd, level, name, v, 4), 'setsockopt', what, fd);
}

export function getsockoptInt(fd: number, level: number, name: number): number {
  const v = new Int32Array(1);
  const len = new Uint32Array([4]);
  check(libc().getsockopt(fd, level, name, v, len), 'getsockopt', `getsockopt on fd ${fd}`, fd);
  return v[0]!;
}

/** A raw getsockopt of `size` bytes (struct options such as SO_PEERCRED). */
export function getsockoptBytes(fd: number, level: number, name: number, size: number): Buffer {
  const v = Buffer.alloc(size);
  const len = new Uint32Array([size]);
  check(libc().getsockopt(fd, level, name, v, len), 'getsockopt', `getsockopt on fd ${fd}`, fd);
  return v.subarray(0, len[0]);
}

export function bind(fd: number, addr: SockAddr): void {
  const buf = encodeSockAddr(addr);
  check(libc().bind(fd, buf, buf.length), 'bind', `bind ${formatSockAddr(addr)}`, fd);
}

/** connect(2); blocking unless the socket is non-blocking. */
export function connect(fd: number, addr: SockAddr): void {
  const buf = encodeSockAddr(addr);
  check(libc().connect(fd, buf, buf.length), 'connect', `connect to ${formatSockAddr(addr)}`, fd);
}

/** SO_PEERCRED of a connected UNIX socket: who is on the other end, as the kernel saw it at connect(). */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  const b = getsockoptBytes(fd, SOL_SOCKET, SO_PEERCRED, 12);
  return { pid: b.readInt32LE(0), uid: b.readUInt32LE(4), gid: b.readUInt32LE(8) };
}

/**
 * shutdown(2) with SHUT_RDWR: ends the connection itself, for every fd that refers to it (a close(2)
 * only drops this one). ENOTCONN, a connection already over, is not an error.
 */
export function shutdownSocket(fd: number): void {
  if (libc().shutdown(fd, SHUT_RDWR) < 0 && lastErrno() !== ENOTCONN)
    throw sysError('shutdown', lastErrno(), undefined, fd);
}

/** listen(2). Named apart from the app's listen(server), which adopts or binds a Node server. */
export function listenSocket(fd: number, backlog: number): void {
  check(libc().listen(fd, backlog), 'listen', `listen on fd ${fd}`, fd);
}

function nameCall(which: 'getsockname' | 'getpeername', fd: number): SockAddr | undefined {
  const buf = Buffer.alloc(SOCKADDR_STORAGE_SIZE);
  const len = new Uint32Array([buf.length]);
  check(libc()[which](fd, buf, len), which, `${which} on fd ${fd}`, fd);
  return decodeSockAddr(buf, len[0]!);
}

export function getsockname(fd: number): SockAddr | undefined {
  return nameCall('getsockname', fd);
}

export function getpeername(fd: number): SockAddr | undefined {
  return nameCall('getpeername', fd);
}

/** accept4(2): a new connection fd (close-on-exec plus `flags`) and its peer address. */
export function accept(fd: number, flags = 0): { fd: number; peer: SockAddr | undefined } {
  const buf = Buffer.alloc(SOCKADDR_STORAGE_SIZE);
  const len = new Uint32Array([buf.length]);
  const conn = check(libc().accept4(fd, buf, len, SOCK_CLOEXEC | flags), 'accept4', `accept on fd ${fd}`, fd);
  return { fd: conn, peer: decodeSockAddr(buf, len[0]!) };
}

/** What a socket fd is, the way sd_is_socket*() look at it: SO_TYPE, SO_DOMAIN, SO_ACCEPTCONN. */
export interface SocketInfo {
  type: SocketType | undefined;
  family: SocketFamily | undefined;
  /** SO_PROTOCOL (6 = TCP, 17 = UDP, 132 = SCTP, 0 for UNIX). */
  protocol: number;
  listening: boolean;
  local: SockAddr | undefined;
}

export function socketInfo(fd: number): SocketInfo {
  const typeNum = getsockoptInt(fd, SOL_SOCKET, SO_TYPE);
  const familyNum = getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
  return {
    type: socketTypeName(typeNum),
    family: familyName(familyNum),
    protocol: getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL),
    listening: getsockoptInt(fd, SOL_SOCKET, SO_ACCEPTCONN) !== 0,
    local: getsockname(fd),
  };
}

export function ifNameToIndex(name: string): number {
  const idx = libc().if_nametoindex(name);
  if (idx === 0) throw sysError('if_nametoindex', lastErrno(), `network interface '${name}'`);
  return idx;
}
