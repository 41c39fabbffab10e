import { isIPv4, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isIPv4Text, isIPv6Text } from '../../src/protocol/ip.js';

// The launcher's own checks must agree with node:net's on every row.
const rows = [
  '127.0.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '256.0.0.1',
  '01.2.3.4',
  '1.2.3',
  '1.2.3.4.5',
  '1.2.3.a',
  '',
  '::',
  '::1',
  '1::',
  'fe80::1',
  '2001:db8::1:2:3:4:5',
  '2001:db8:0:0:0:0:0:1',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7',
  '1::2::3',
  ':::',
  '1:::2',
  '12345::',
  'g::1',
  '::ffff:127.0.0.1',
  '::ffff:256.0.0.1',
  '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5:6:7:1.2.3.4',
  '::1.2.3.4',
  '1.2.3.4::',
  ':1',
  '1:',
];

describe('isIPv4Text and isIPv6Text', () => {
  it.each(rows)('%j agrees with node:net', (text) => {
    expect([isIPv4Text(text), isIPv6Text(text)]).toEqual([isIPv4(text), isIPv6(text)]);
  });

  it('leaves the %zone to the caller (node:net accepts it inside the address)', () => {
    expect(isIPv6Text('fe80::1%eth0')).toBe(false);
    expect(isIPv6Text('fe80::1')).toBe(true);
  });
});
