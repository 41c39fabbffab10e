/*
 * struct sockaddr_in, sockaddr_in6 and sockaddr_un as bytes (Linux ABI, the same on x86_64 and
 * arm64, glibc and musl). Pure: no libc call, so protocol/ can parse addresses with the same code
 * that encodes them for bind(), and the seam (sys/) uses it to talk to the kernel.
 */
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
/** sizeof(sun_path) (linux/un.h): a path keeps one byte for its NUL, an abstract name one for its leading NUL. */
export const UNIX_PATH_MAX = 108;
/** sizeof(struct sockaddr_un): 2 bytes of family, then sun_path. */
export const SOCKADDR_UN_SIZE = 2 + UNIX_PATH_MAX;

export type SocketType = 'stream' | 'dgram' | 'seqpacket';
export type SocketFamily = 'inet' | 'inet6' | 'unix';

/**
 * A socket address as the seam reads and writes it. UNIX socket paths that start with '@' are
 * abstract (systemd's notation); the '@' stands for the leading NUL byte.
 */
export type SockAddr =
  | { family: 'inet'; address: string; port: number }
  | { family: 'inet6'; address: string; port: number; scopeId?: number; flowinfo?: number }
  | { family: 'unix'; path: string };

/**
 * Format an address the way systemd and every sockact message print it: 1.2.3.4:80, [::1]:80,
 * [fe80::1%eth0]:80, /run/x, @name. The zone is a SockAddr's `scopeId` (an interface index) or a
 * -l address's `scope` (an interface name or number, as written).
 */
export function formatSockAddr(
  a:
    | SockAddr
    | { family: 'inet'; address: string; port: number; scope?: string }
    | { family: 'inet6'; address: string; port: number; scope?: string },
): string {
  // `scope` is the %dev of a -l address (systemd.socket's a.b.c.d:PORT%dev, [v6%dev]:PORT).
  if (a.family === 'inet') return `${a.address}:${a.port}${'scope' in a && a.scope !== undefined ? `%${a.scope}` : ''}`;
  if (a.family === 'inet6') {
    const zone = 'scope' in a ? a.scope : 'scopeId' in a && a.scopeId ? a.scopeId : undefined;
    return `[${a.address}${zone !== undefined ? `%${zone}` : ''}]:${a.port}`;
  }
  return a.path === '' ? '(unnamed)' : a.path;
}

/*
 * Address text is parsed here, strictly, instead of with node:net's isIP*(): their first call
 * compiles a large regular expression (5-10 ms), which the launcher's start-up cannot spare.
 */
const V4_PART = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** The 4 bytes of dotted-quad text, or undefined when it is not one (no leading zeros). */
export function ipv4Bytes(text: string): number[] | undefined {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => V4_PART.test(p)) ? parts.map(Number) : undefined;
}

/** The 16 bytes of IPv6 text (RFC 4291 forms, with an optional trailing dotted quad). */
export function ipv6Bytes(text: string): Buffer {
  const bad = () => new TypeError(`not an IPv6 address: '${text}'`);
  const halves = text.split('::');
  if (halves.length > 2) throw bad();
  const split = (h: string) => (h === '' ? [] : h.split(':'));
  const head = split(halves[0]!);
  const tail = halves.length === 2 ? split(halves[1]!) : [];
  const last = halves.length === 2 ? tail : head;
  let v4: number[] | undefined;
  if (last.length && last[last.length - 1]!.includes('.')) {
    v4 = ipv4Bytes(last.pop()!);
    if (!v4) throw bad();
  }
  const groupsWanted = v4 ? 6 : 8;
  const given = head.length + tail.length;
  if (![...head, ...tail].every((g) => HEX_GROUP.test(g))) throw bad();
  if (halves.length === 2 ? given > groupsWanted - 1 : given !== groupsWanted) throw bad();
  const groups = [...head, ...new Array(groupsWanted - given).fill('0'), ...tail].map((g) => parseInt(g, 16));
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(g, i * 2);
  if (v4) Buffer.from(v4).copy(out, 12);
  return out;
}

/** Format 16 bytes as RFC 5952 text (lowercase, longest zero run compressed, ::ffff:a.b.c.d), as inet_ntop does. */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  const quad = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  // As inet_ntop (and so systemd and Node) prints them: IPv4-mapped, and IPv4-compatible
  // addresses whose zero run is exactly the first six groups, end in a dotted quad.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${quad}`;
  if (groups.slice(0, 6).every((g) => g === 0) && groups[6] !== 0) return `::${quad}`;
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
    const bytes = ipv4Bytes(a.address);
    if (!bytes) throw new TypeError(`not an IPv4 address: '${a.address}'`);
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(a.port, 2);
    Buffer.from(bytes).copy(b, 4);
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
    throw Object.assign(
      new RangeError(`UNIX socket path is too long (${name.length + 1} > ${UNIX_PATH_MAX} bytes): '${a.path}'`),
      {
        code: 'ENAMETOOLONG',
      },
    );
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
