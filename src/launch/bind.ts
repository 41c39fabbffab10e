import type { ListenSpec } from '../protocol/address.js';
import { codeOf, SockactError } from '../protocol/errors.js';
import {
  IP_FREEBIND,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_FREEBIND,
  IPV6_V6ONLY,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOL_SOCKET,
} from '../sys/constants.js';
import { errorReason, type SysError } from '../sys/errors.js';
import { closeFd } from '../sys/fd.js';
import { formatSockAddr, type SockAddr } from '../protocol/sockaddr.js';
import { bind, getsockname, ifNameToIndex, listenSocket, setsockoptInt, socket } from '../sys/socket.js';
import { bindUnixPath, prepareUnixPath, removeSocketFile } from './unix.js';

/**
 * Backlog= default: INT_MAX, which listen(2) caps to net.core.somaxconn, so the backlog follows
 * that sysctl. systemd passes SOMAXCONN_DELUXE (INT_MAX) from make_socket_fd() and for socket
 * units; systemd-socket-activate 252 on Debian 12 gets exactly somaxconn too (checked with ss).
 */
export const DEFAULT_BACKLOG = 0x7fffffff;

/** A socket the launcher made: bound, listening unless datagram, blocking, close-on-exec. */
export interface BoundSocket {
  fd: number;
  spec: ListenSpec;
  /** The address the kernel reports (getsockname): port 0 is replaced by the port it chose. */
  local: SockAddr;
  /** `local` as printed: 127.0.0.1:8080, [::]:8080, /run/app.sock, @name. */
  label: string;
  /** The socket file the launcher created, for removal on exit. */
  path?: string;
}

function bindFailure(label: string, cause: unknown): SockactError {
  // The socket file's checks (launch/unix.ts) name the address already; OS errors get it here.
  if (cause instanceof SockactError && cause.address !== undefined) return cause;
  const e = cause as SysError;
  // For the calls that make the socket the errno says it all; others say what they were doing.
  const plain = e.syscall === 'bind' || e.syscall === 'listen' || e.syscall === 'socket';
  const reason = plain ? errorReason(e) : e.message;
  return new SockactError(codeOf(e, 'ERR_BIND'), `can't listen on ${label}: ${reason}`, { address: label, cause });
}

function sockAddrOf(spec: ListenSpec, fallbackV4: boolean): SockAddr {
  const a = spec.address;
  if (a.family === 'unix') return { family: 'unix', path: a.path };
  if (a.family === 'inet' || fallbackV4) {
    // a.b.c.d:PORT%dev: systemd resolves dev (an unknown one is an error) and binds on every interface.
    if (a.family === 'inet' && a.scope !== undefined && !/^\d+$/.test(a.scope)) ifNameToIndex(a.scope);
    return { family: 'inet', address: a.family === 'inet' ? a.address : '0.0.0.0', port: a.port };
  }
  const out: SockAddr = { family: 'inet6', address: a.address, port: a.port };
  if (a.scope !== undefined) out.scopeId = /^\d+$/.test(a.scope) ? Number(a.scope) : ifNameToIndex(a.scope);
  return out;
}

function setOptions(fd: number, spec: ListenSpec, family: SockAddr['family'], label: string): void {
  const opt = (level: number, name: number, value: number, what: string) =>
    setsockoptInt(fd, level, name, value, `set ${what} on ${label}`);
  // On every socket, UDP and UNIX too, as systemd's socket_address_listen() sets it: a restarted
  // server can rebind while old connections sit in TIME_WAIT, and a program that checks gets what
  // it would get under systemd.
  opt(SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
  // Unset: the kernel's net.ipv6.bindv6only decides, as with BindIPv6Only=default.
  if (family === 'inet6' && spec.v6only !== undefined)
    opt(IPPROTO_IPV6, IPV6_V6ONLY, spec.v6only ? 1 : 0, 'IPV6_V6ONLY');
  if (spec.reusePort) opt(SOL_SOCKET, SO_REUSEPORT, 1, 'SO_REUSEPORT');
  if (spec.freebind) {
    if (family === 'inet6') {
      try {
        opt(IPPROTO_IPV6, IPV6_FREEBIND, 1, 'IPV6_FREEBIND');
      } catch {
        // Kernels before 4.15 have no IPV6_FREEBIND; IP_FREEBIND covers IPv6 sockets there.
        opt(IPPROTO_IP, IP_FREEBIND, 1, 'IP_FREEBIND');
      }
    } else {
      opt(IPPROTO_IP, IP_FREEBIND, 1, 'IP_FREEBIND');
    }
  }
}

/**
 * Create, bind and (stream, seqpacket) listen on one socket through the OS seam, never a Node
 * server handle, which would accept connections meant for the child (docs/protocol.md 11, section 4).
 * The socket is blocking, as systemd makes it: O_NONBLOCK belongs to the open file shared by
 * every holder, so the child chooses (Node sets it when it adopts the socket).
 */
export function bindSocket(spec: ListenSpec): BoundSocket {
  const label = formatSockAddr(spec.address);
  let fd = -1;
  let path: string | undefined;
  try {
    let family: SockAddr['family'] = spec.address.family;
    try {
      fd = socket(family, spec.type);
    } catch (err) {
      // `PORT` means every address; on a host without IPv6 that is 0.0.0.0 (as systemd falls back).
      const wildcard = spec.address.family === 'inet6' && spec.address.wildcard;
      if (!wildcard || (err as SysError).code !== 'EAFNOSUPPORT') throw err;
      family = 'inet';
      fd = socket(family, spec.type);
    }
    const addr = sockAddrOf(spec, family !== spec.address.family);
    setOptions(fd, spec, family, label);
    if (addr.family === 'unix' && !addr.path.startsWith('@')) {
      prepareUnixPath(spec, addr.path);
      bindUnixPath(spec, addr.path, () => bind(fd, addr));
      path = addr.path;
    } else {
      bind(fd, addr);
    }
    if (spec.type !== 'dgram') listenSocket(fd, spec.backlog ?? DEFAULT_BACKLOG);
    const local = getsockname(fd) ?? addr;
    return { fd, spec, local, label: formatSockAddr(local), path };
  } catch (cause) {
    if (fd >= 0) closeFd(fd);
    if (path !== undefined) removeSocketFile(path);
    throw bindFailure(label, cause);
  }
}

/**
 * Bind every spec, in order. All or nothing: when one fails, the sockets already made are closed
 * (and their files removed) before the error is thrown, so nothing starts half-configured.
 */
export function bindAll(specs: readonly ListenSpec[]): BoundSocket[] {
  const done: BoundSocket[] = [];
  try {
    for (const spec of specs) done.push(bindSocket(spec));
    return done;
  } catch (err) {
    closeSockets(done);
    throw err;
  }
}

/** Close sockets from bindAll; with `removeFiles`, also remove the socket files they made. */
export function closeSockets(sockets: readonly BoundSocket[], removeFiles = true): void {
  for (const s of sockets) {
    try {
      closeFd(s.fd);
    } catch {
      // Closed already: the goal is met.
    }
    if (removeFiles && s.path !== undefined) removeSocketFile(s.path);
  }
}

/** Remove the socket files marked remove-on-exit (RemoveOnStop=); call as the launcher ends. */
export function removeOnExit(sockets: readonly BoundSocket[]): void {
  for (const s of sockets) if (s.spec.removeOnExit && s.path !== undefined) removeSocketFile(s.path);
}
