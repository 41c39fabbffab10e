import { isIPv4, isIPv6 } from 'node:net';
import { AF_INET, AF_INET6, AF_UNIX, SOCKADDR_UN_SIZE, UNIX_PATH_MAX } from './constants.js';

/**
 * A socket address as the seam reads and writes it. UNIX socket paths that start with '@' are
 * abstract (systemd's notation); the '@' stands for the leading NUL byte.
 */
export type SockAddr =
  | { family: 'inet'; address: string; port: number }
  | { family: 'inet6'; address: string; port: number; scopeId?: number; flowinfo?: number }
  | { family: 'unix'; path: string };

/** Format a SockAddr the way systemd and the CLI print it: 1.2.3.4:80, [::1]:80, /run/x, @name. */
export function formatSockAddr(a: SockAddr): string {
  if (a.family === 'inet') return `${a.address}:${a.port}`;
  if (a.family === 'inet6') return `[${a.address}${a.scopeId ? `%${a.scopeId}` : ''}]:${a.port}`;
  return a.path === '' ? '(unnamed)' : a.path;
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

/** Parse IPv6 text (validated by net.isIPv6) into its 16 bytes. */
export function ipv6Bytes(text: string): Buffer {
  if (!isIPv6(text)) throw new TypeError(`not an IPv6 address: '${text}'`);
  let head = text;
  let tail4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // An embedded dotted quad stands for the last two groups: parse it as two zero groups.
    tail4 = ipv4Bytes(text.slice(lastColon + 1));
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const l = parse(left);
  const r = parse(right);
  const groups = right === undefined ? l : [...l, ...new Array(8 - l.length - r.length).fill(0), ...r];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tail4.length) Buffer.from(tail4).copy(out, 12);
  return out;
}

/** Format 16 bytes as RFC 5952 text (lowercase, longest zero run compressed, ::ffff:a.b.c.d). */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Encode a SockAddr into a struct sockaddr_* buffer for bind()/sendmsg(). */
export function encodeSockAddr(a: SockAddr): Buffer {
  if (a.family === 'inet') {
    if (!isIPv4(a.address)) throw new TypeError(`not an IPv4 address: '${a.address}'`);
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(a.port, 2);
    Buffer.from(ipv4Bytes(a.address)).copy(b, 4);
    return b;
  }
  if (a.family === 'inet6') {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(AF_INET6, 0);
    b.writeUInt16BE(a.port, 2);
    b.writeUInt32BE(a.flowinfo ?? 0, 4);
    ipv6Bytes(a.address).copy(b, 8);
    b.writeUInt32LE(a.scopeId ?? 0, 24);
    return b;
  }
  const abstract = a.path.startsWith('@');
  const name = Buffer.from(abstract ? a.path.slice(1) : a.path, 'utf8');
  // A path needs room for its trailing NUL; an abstract name has a leading NUL instead.
  if (name.length + 1 > UNIX_PATH_MAX) {
    throw Object.assign(new RangeError(`UNIX socket path is too long (${name.length + 1} > ${UNIX_PATH_MAX} bytes): '${a.path}'`), {
      code: 'ENAMETOOLONG',
    });
  }
  if (!abstract && name.includes(0)) throw new TypeError(`UNIX socket path contains a NUL byte: '${a.path}'`);
  const b = Buffer.alloc(abstract ? 2 + 1 + name.length : 2 + name.length + 1);
  b.writeUInt16LE(AF_UNIX, 0);
  name.copy(b, abstract ? 3 : 2);
  return b;
}

/** Decode a struct sockaddr_* of `len` bytes. Returns undefined for families the seam does not name. */
export function decodeSockAddr(b: Buffer, len: number): SockAddr | undefined {
  if (len < 2) return undefined;
  const family = b.readUInt16LE(0);
  if (family === AF_INET && len >= 8) {
    return { family: 'inet', address: `${b[4]}.${b[5]}.${b[6]}.${b[7]}`, port: b.readUInt16BE(2) };
  }
  if (family === AF_INET6 && len >= 24) {
    const scopeId = len >= 28 ? b.readUInt32LE(24) : 0;
    const a: SockAddr = { family: 'inet6', address: formatIpv6(b.subarray(8, 24)), port: b.readUInt16BE(2) };
    if (scopeId) a.scopeId = scopeId;
    return a;
  }
  if (family === AF_UNIX) {
    const raw = b.subarray(2, Math.min(len, SOCKADDR_UN_SIZE));
    if (raw.length === 0) return { family: 'unix', path: '' };
    if (raw[0] === 0) return { family: 'unix', path: `@${raw.subarray(1).toString('utf8')}` };
    const nul = raw.indexOf(0);
    return { family: 'unix', path: raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8') };
  }
  return undefined;
}
