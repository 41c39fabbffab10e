import {
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  SCM_CREDENTIALS,
  SCM_RIGHTS,
  SOL_SOCKET,
} from './constants.js';
import { sysError } from './errors.js';
import { lastErrno, libc } from './libc.js';
import { decodeSockAddr, encodeSockAddr, formatSockAddr, type SockAddr } from '../protocol/sockaddr.js';

/*
 * struct msghdr, iovec and cmsghdr on 64-bit Linux. musl declares msg_iovlen, msg_controllen and
 * cmsg_len as 32-bit values followed by 32-bit padding; written as zero-padded little-endian
 * 64-bit values they are byte-for-byte the same, so one layout serves glibc and musl.
 */
const MSGHDR_SIZE = 56;
const IOVEC_SIZE = 16;
const CMSG_HDR = 16;
const align8 = (n: number) => (n + 7) & ~7;
const cmsgSpace = (n: number) => CMSG_HDR + align8(n);
/** The kernel's limit of fds in one SCM_RIGHTS message (SCM_MAX_FD, include/net/scm.h). */
const SCM_MAX_FD = 253;
const EINVAL = 22;

export interface Credentials {
  pid: number;
  uid: number;
  gid: number;
}

function addr(b: Buffer): bigint {
  return b.length === 0 ? 0n : libc().koffi.address(b);
}

function msghdr(name: Buffer, iov: Buffer, control: Buffer): Buffer {
  const m = Buffer.alloc(MSGHDR_SIZE);
  m.writeBigUInt64LE(addr(name), 0);
  m.writeUInt32LE(name.length, 8);
  m.writeBigUInt64LE(addr(iov), 16);
  m.writeBigUInt64LE(1n, 24);
  m.writeBigUInt64LE(addr(control), 32);
  m.writeBigUInt64LE(BigInt(control.length), 40);
  return m;
}

function iovec(data: Buffer): Buffer {
  const v = Buffer.alloc(IOVEC_SIZE);
  v.writeBigUInt64LE(addr(data), 0);
  v.writeBigUInt64LE(BigInt(data.length), 8);
  return v;
}

export interface SendOptions {
  /** Destination for an unconnected datagram socket (sendto). */
  to?: SockAddr;
  /** fds to pass as SCM_RIGHTS. */
  fds?: readonly number[];
  /** Credentials to attach as SCM_CREDENTIALS (the kernel checks them). */
  credentials?: Credentials;
}

/** sendmsg(2) of one message, with optional SCM_RIGHTS and SCM_CREDENTIALS. Returns bytes sent. */
export function sendmsg(fd: number, data: Buffer, opts: SendOptions = {}): number {
  const fds = opts.fds ?? [];
  // The kernel answers EINVAL ("invalid argument", scm_fp_copy): say what is wrong instead.
  if (fds.length > SCM_MAX_FD) {
    const err = sysError('sendmsg', EINVAL, undefined, fd);
    err.message = `can't pass ${fds.length} fds in one message on fd ${fd} (at most ${SCM_MAX_FD}, SCM_MAX_FD)`;
    throw err;
  }
  const parts: Buffer[] = [];
  if (fds.length) {
    const c = Buffer.alloc(cmsgSpace(4 * fds.length));
    c.writeBigUInt64LE(BigInt(CMSG_HDR + 4 * fds.length), 0);
    c.writeInt32LE(SOL_SOCKET, 8);
    c.writeInt32LE(SCM_RIGHTS, 12);
    for (const [i, f] of fds.entries()) c.writeInt32LE(f, CMSG_HDR + 4 * i);
    parts.push(c);
  }
  if (opts.credentials) {
    const c = Buffer.alloc(cmsgSpace(12));
    c.writeBigUInt64LE(BigInt(CMSG_HDR + 12), 0);
    c.writeInt32LE(SOL_SOCKET, 8);
    c.writeInt32LE(SCM_CREDENTIALS, 12);
    c.writeInt32LE(opts.credentials.pid, 16);
    c.writeUInt32LE(opts.credentials.uid, 20);
    c.writeUInt32LE(opts.credentials.gid, 24);
    parts.push(c);
  }
  const control = Buffer.concat(parts);
  const name = opts.to ? encodeSockAddr(opts.to) : Buffer.alloc(0);
  const iov = iovec(data);
  const m = msghdr(name, iov, control);
  const r = libc().sendmsg(fd, m, MSG_NOSIGNAL);
  if (r < 0) {
    throw sysError('sendmsg', lastErrno(), opts.to ? `send to ${formatSockAddr(opts.to)}` : `sendmsg on fd ${fd}`, fd);
  }
  return r;
}

export interface Received {
  data: Buffer;
  /** fds received as SCM_RIGHTS, already close-on-exec (MSG_CMSG_CLOEXEC). */
  fds: number[];
  credentials?: Credentials;
  from?: SockAddr;
  /** The datagram was longer than the buffer (MSG_TRUNC): the rest is lost. */
  truncated: boolean;
  /** fds or credentials did not fit (MSG_CTRUNC). */
  controlTruncated: boolean;
}

/**
 * recvmsg(2) of one message without blocking (MSG_DONTWAIT). Returns undefined when nothing is
 * queued (EAGAIN). `maxFds` sizes the control buffer; `bufferSize` the data buffer. With
 * `credentials` false no room is kept for SCM_CREDENTIALS, so the control buffer holds exactly
 * `maxFds` fds: the kernel installs that many and closes the rest (scm_detach_fds, MSG_CTRUNC).
 */
export function recvmsg(fd: number, bufferSize = 4096, maxFds = 16, credentials = true): Received | undefined {
  const data = Buffer.alloc(bufferSize);
  const control = Buffer.alloc((maxFds > 0 ? cmsgSpace(4 * maxFds) : 0) + (credentials ? cmsgSpace(12) : 0));
  const name = Buffer.alloc(128);
  const iov = iovec(data);
  const m = msghdr(name, iov, control);
  const r = libc().recvmsg(fd, m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
  if (r < 0) {
    const errno = lastErrno();
    if (errno === 11 /* EAGAIN */) return undefined;
    throw sysError('recvmsg', errno, `recvmsg on fd ${fd}`, fd);
  }
  const flags = m.readInt32LE(48);
  const controlLen = Number(m.readBigUInt64LE(40));
  const nameLen = m.readUInt32LE(8);
  const out: Received = {
    data: data.subarray(0, Math.min(r, bufferSize)),
    fds: [],
    truncated: (flags & MSG_TRUNC) !== 0 || r > bufferSize,
    controlTruncated: (flags & MSG_CTRUNC) !== 0,
    from: nameLen > 0 ? decodeSockAddr(name, nameLen) : undefined,
  };
  for (let off = 0; off + CMSG_HDR <= controlLen; ) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < CMSG_HDR) break;
    const level = control.readInt32LE(off + 8);
    const type = control.readInt32LE(off + 12);
    const body = control.subarray(off + CMSG_HDR, off + len);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let i = 0; i + 4 <= body.length; i += 4) out.fds.push(body.readInt32LE(i));
    } else if (level === SOL_SOCKET && type === SCM_CREDENTIALS && body.length >= 12) {
      out.credentials = { pid: body.readInt32LE(0), uid: body.readUInt32LE(4), gid: body.readUInt32LE(8) };
    }
    off += align8(len);
  }
  return out;
}
