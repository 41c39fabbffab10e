/**
 * Linux ABI constants for the calls the seam makes. They are the same on x86_64 and arm64
 * (both use the generic asm/socket.h values), with glibc and with musl.
 */
export { AF_INET, AF_INET6, AF_UNIX, SOCKADDR_UN_SIZE, UNIX_PATH_MAX } from '../protocol/sockaddr.js';

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_CLOEXEC = 0o2000000;
export const SOCK_NONBLOCK = 0o4000;

export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_TYPE = 3;
export const SO_REUSEPORT = 15;
export const SO_PASSCRED = 16;
export const SO_PEERCRED = 17;
export const SO_ACCEPTCONN = 30;
export const SO_PROTOCOL = 38;
export const SO_DOMAIN = 39;

export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;
export const IP_FREEBIND = 15;
export const IPV6_V6ONLY = 26;
export const IPV6_FREEBIND = 78;

export const SCM_RIGHTS = 1;
export const SCM_CREDENTIALS = 2;
export const SHUT_RDWR = 2;
export const ENOTCONN = 107;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const MSG_CTRUNC = 0x08;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;

export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
/** fcntl(2): a pipe's capacity (Linux 2.6.35+). */
export const F_SETPIPE_SZ = 1031;
export const F_DUPFD_CLOEXEC = 1030;
export const FD_CLOEXEC = 1;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
/** open(2) O_PATH: a handle on the inode itself, nothing read or written (the generic value). */
export const O_PATH = 0o10000000;
/** fchownat(2) flag: act on dirfd itself (an O_PATH fd) instead of a name under it. */
export const AT_EMPTY_PATH = 0x1000;

export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

/** sizeof(struct sockaddr_storage). */
export const SOCKADDR_STORAGE_SIZE = 128;
