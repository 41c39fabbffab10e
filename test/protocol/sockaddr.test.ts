import { describe, expect, it } from 'vitest';
import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import {
  decodeSockAddr,
  encodeSockAddr,
  formatIpv6,
  formatSockAddr,
  ipv4Bytes,
  ipv6Bytes,
  type SockAddr,
} from '../../src/protocol/sockaddr.js';

describe('sockaddr encode/decode', () => {
  // [address, encoded length, what the row proves]
  const rows: [SockAddr, number, string][] = [
    [{ family: 'inet', address: '127.0.0.1', port: 8080 }, 16, 'sockaddr_in is 16 bytes'],
    [{ family: 'inet6', address: '::1', port: 443 }, 28, 'sockaddr_in6 is 28 bytes'],
    [{ family: 'inet6', address: 'fe80::1', port: 80, scopeId: 2 }, 28, 'the scope id survives'],
    [{ family: 'unix', path: '/run/x.sock' }, 2 + 11 + 1, 'a path carries its trailing NUL'],
    [{ family: 'unix', path: '@abstract' }, 2 + 1 + 8, 'an abstract name: leading NUL, exact length, no trailing NUL'],
  ];
  for (const [addr, len, proves] of rows) {
    it(proves, () => {
      const b = encodeSockAddr(addr);
      expect(b.length).toBe(len);
      expect(decodeSockAddr(b, b.length)).toEqual(addr);
    });
  }

  it('writes the port in network order and the family in host order', () => {
    const b = encodeSockAddr({ family: 'inet', address: '10.1.2.3', port: 0x1234 });
    expect([...b.subarray(0, 8)]).toEqual([2, 0, 0x12, 0x34, 10, 1, 2, 3]);
  });

  it('refuses paths that do not fit sun_path, and NUL bytes in paths', () => {
    expect(() => encodeSockAddr({ family: 'unix', path: `/${'x'.repeat(107)}` })).toThrow(
      /UNIX socket path is too long \(109 > 108 bytes\)/,
    );
    expect(() => encodeSockAddr({ family: 'unix', path: '/a\0b' })).toThrow(/NUL byte/);
    expect(() => encodeSockAddr({ family: 'inet', address: '::1', port: 1 })).toThrow("not an IPv4 address: '::1'");
  });

  it('decodes an unnamed UNIX socket and unknown families', () => {
    expect(decodeSockAddr(Buffer.from([1, 0]), 2)).toEqual({ family: 'unix', path: '' });
    expect(decodeSockAddr(Buffer.from([16, 0, 0, 0]), 4)).toBeUndefined();
    expect(formatSockAddr({ family: 'unix', path: '' })).toBe('(unnamed)');
  });
});

describe('IPv6 text', () => {
  // [input, RFC 5952 output, what the row proves]
  const rows: [string, string, string][] = [
    ['::', '::', 'all zeros'],
    ['::1', '::1', 'loopback'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 'lowercase, longest zero run compressed'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1', 'a lone zero group is not compressed'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1', 'the longer of two runs is compressed'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1', 'IPv4-mapped addresses keep the dotted quad'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221', 'an embedded dotted quad elsewhere is hex'],
  ];
  for (const [input, output, proves] of rows) {
    it(proves, () => expect(formatIpv6(ipv6Bytes(input))).toBe(output));
  }
  it('refuses text that is not IPv6', () =>
    expect(() => ipv6Bytes('1.2.3.4')).toThrow("not an IPv6 address: '1.2.3.4'"));

  // The seam parses address text itself (node:net's isIP* costs 5-10 ms on first use): it must
  // accept and refuse exactly what node:net does, and give the bytes node:net's own socket gets.
  const texts = [
    '::',
    '::1',
    '1::',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7::',
    '::2:3:4:5:6:7:8',
    '1:2:3:4:5:6::8',
    '::ffff:1.2.3.4',
    '1:2:3:4:5:6:1.2.3.4',
    '::1.2.3.4',
    'fe80::1',
    'FFFF::',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':1',
    '1:',
    '12345::',
    'g::',
    '::1.2.3',
    '::1.2.3.256',
    '::01.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4',
    '',
    ':',
    ':::',
    '1.2.3.4',
    '::ffff:1.2.3.4:5',
  ];
  for (const text of texts) {
    it(`agrees with node:net on '${text}'`, () => {
      let ours: string | false;
      try {
        ours = formatIpv6(ipv6Bytes(text));
      } catch {
        ours = false;
      }
      expect(ours !== false).toBe(isIPv6(text));
      if (ours !== false) expect(new SocketAddress({ address: text, family: 'ipv6' }).address).toBe(ours);
    });
  }
  for (const text of [
    '0.0.0.0',
    '255.255.255.255',
    '1.2.3.4',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    '1..2.3',
    'a.b.c.d',
    '',
  ]) {
    it(`agrees with node:net on IPv4 '${text}'`, () => expect(ipv4Bytes(text) !== undefined).toBe(isIPv4(text)));
  }
});
