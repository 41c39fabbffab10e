// The fd bundle wire format, pure: what the sender formats and what the reader accepts.
// Fd numbers here are plain numbers: nothing is opened (the I/O side is test/app/fdpass.test.ts).
import { describe, expect, it } from 'vitest';
import { FdBundleReader, formatFdBundle, formatFdRefusal, SCM_MAX_FD } from '../../src/protocol/fdpass.js';

function frame(header: string | Buffer, message = ''): Buffer {
  const h = Buffer.from(header);
  const m = Buffer.from(message);
  const p = Buffer.alloc(8);
  p.writeUInt32BE(h.length, 0);
  p.writeUInt32BE(m.length, 4);
  return Buffer.concat([p, h, m]);
}

/** Feed one whole message per part, as a seqpacket socket delivers them. */
function readSeqpacket(parts: { data: Buffer; fds?: number[] }[], limit = SCM_MAX_FD) {
  const r = new FdBundleReader('/run/x', limit, false);
  for (const p of parts) r.push({ data: p.data, fds: p.fds ?? [] });
  return r;
}

describe('fd bundle format', () => {
  it(
    'puts header, names and message in the first message ' + 'with the first 253 fds, then one byte per further batch',
    () => {
      const fds = Array.from({ length: 600 }, (_, i) => 1000 + i);
      const msgs = formatFdBundle(
        fds,
        fds.map((_, i) => `n${i}`),
        Buffer.from('hi'),
      );
      expect(msgs.map((m) => m.fds.length)).toEqual([253, 253, 94]);
      expect(msgs.slice(1).map((m) => m.data.toString())).toEqual(['F', 'F']);
      const r = readSeqpacket(
        msgs.map((m) => ({ data: m.data, fds: [...m.fds] })),
        600,
      );
      expect(r.done).toBe(true);
      expect(r.result()).toEqual({ fds, names: fds.map((_, i) => `n${i}`), message: Buffer.from('hi') });
    },
  );

  it('reads the same bundle from a byte stream, asking for exactly its own bytes (never the next bundle)', () => {
    const [first, second] = formatFdBundle(
      [5, 6, ...Array.from({ length: 253 }, (_, i) => 100 + i)],
      undefined,
      Buffer.from('msg'),
    );
    const r = new FdBundleReader('fd 9', 1000, true);
    expect(r.need()).toBe(8);
    // The prefix arrives in two pieces; the fds come with the first byte of their message.
    r.push({ data: first!.data.subarray(0, 3), fds: [...first!.fds] });
    expect(r.need()).toBe(5);
    r.push({ data: first!.data.subarray(3, 8), fds: [] });
    expect(r.need()).toBe(first!.data.length - 8);
    r.push({ data: first!.data.subarray(8), fds: [] });
    expect(r.done).toBe(false);
    expect(r.need()).toBe(1);
    r.push({ data: second!.data, fds: [...second!.fds] });
    expect(r.done).toBe(true);
    expect(r.result().names).toHaveLength(255);
    expect(r.result().names.every((n) => n === 'unknown')).toBe(true);
  });

  it('sizes the control buffer to what the receiver still accepts', () => {
    const r = new FdBundleReader('fd 9', 300, false);
    expect(r.maxFds()).toBe(253);
    r.push({
      data: frame(`SOCKACT_FDS=260\nLISTEN_FDNAMES=${Array(260).fill('a').join(':')}`),
      fds: Array(253).fill(7),
    });
    expect(r.maxFds()).toBe(7);
    expect(new FdBundleReader('fd 9', 2, false).maxFds()).toBe(2);
  });

  // [header, names, what the row proves]
  const good: [string, string[], string][] = [
    ['SOCKACT_FDS=2\nLISTEN_FDNAMES=web:admin', ['web', 'admin'], 'names in fd order'],
    ['SOCKACT_FDS=3\nLISTEN_FDNAMES=a::b', ['a', '', 'b'], 'empty names are kept, as in LISTEN_FDNAMES'],
    ['SOCKACT_FDS=0\nLISTEN_FDNAMES=', [], 'no fds at all'],
  ];
  for (const [header, names, proves] of good) {
    it(proves, () => {
      const r = readSeqpacket([{ data: frame(header), fds: names.map((_, i) => 10 + i) }]);
      expect(r.done).toBe(true);
      expect(r.result().names).toEqual(names);
    });
  }

  // [first message, fds with it, code, message, what the row proves]
  const bad: [Buffer, number[], string, string, string][] = [
    [
      frame('SOCKACT_FDS=2\nLISTEN_FDNAMES=web'),
      [],
      'ERR_FDS_PROTOCOL',
      "/run/x sent a malformed fd bundle: header 'SOCKACT_FDS=2\\x0aLISTEN_FDNAMES=web'",
      'a name count that differs from the fd count',
    ],
    [
      frame('SOCKACT_FDS=0x2\nLISTEN_FDNAMES=a:b'),
      [],
      'ERR_FDS_PROTOCOL',
      "/run/x sent a malformed fd bundle: header 'SOCKACT_FDS=0x2\\x0aLISTEN_FDNAMES=a:b'",
      'a count that is not plain decimal',
    ],
    [
      frame('LISTEN_FDNAMES=web'),
      [],
      'ERR_FDS_PROTOCOL',
      "/run/x sent a malformed fd bundle: header 'LISTEN_FDNAMES=web'",
      'no count at all',
    ],
    [
      Buffer.from('READY=1'),
      [],
      'ERR_FDS_PROTOCOL',
      '/run/x sent a malformed fd bundle: a first message of 7 bytes',
      'a message too short for the prefix',
    ],
    [
      Buffer.concat([frame('SOCKACT_FDS=0\nLISTEN_FDNAMES='), Buffer.from('x')]),
      [],
      'ERR_FDS_PROTOCOL',
      '/run/x sent a malformed fd bundle: a first message of 38 bytes, its prefix says 37',
      'bytes beyond what the prefix announces',
    ],
    [
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
      [],
      'ERR_FDS_PROTOCOL',
      '/run/x sent a malformed fd bundle: a prefix announcing 4294967295 header and 0 message bytes',
      'a prefix announcing more than any bundle',
    ],
    [
      frame('SOCKACT_FDS=1\nLISTEN_FDNAMES=a'),
      [7, 8],
      'ERR_FDS_PROTOCOL',
      '/run/x sent a malformed fd bundle: 2 fds, the header announced 1',
      'more fds than announced',
    ],
    [
      formatFdRefusal('pid 7 is not\nthe program'),
      [],
      'ERR_FDS_REFUSED',
      '/run/x refused: pid 7 is not the program',
      "a sender's refusal, on one line",
    ],
    [
      frame(`SOCKACT_FDS=254\nLISTEN_FDNAMES=${Array(254).fill('a').join(':')}`),
      [],
      'ERR_FDS_LIMIT',
      '/run/x sends 254 fds, more than the 253 this receiver accepts',
      'more fds than the receiver accepts',
    ],
    [
      frame(Buffer.concat([Buffer.from('SOCKACT_FDS=2\nLISTEN_FDNAMES=web:'), Buffer.from([0x77, 0xff, 0x62])])),
      [7, 8],
      'ERR_FDS_NAMES',
      "/run/x sent the fd name 'w\\xffb', which contains a character that is not printable ASCII",
      'a name that is not valid UTF-8 (never rewritten to U+FFFD)',
    ],
    [
      frame('SOCKACT_FDS=1\nLISTEN_FDNAMES=caf\u00e9'),
      [7],
      'ERR_FDS_NAMES',
      "/run/x sent the fd name 'caf\\xc3\\xa9', which contains a character that is not printable ASCII",
      'a name in valid UTF-8 that is not ASCII',
    ],
    [
      frame('SOCKACT_FDS=1\nLISTEN_FDNAMES=a\tb'),
      [7],
      'ERR_FDS_NAMES',
      "/run/x sent the fd name 'a\\x09b', which contains a character that is not printable ASCII",
      'a name with a control character',
    ],
    [
      Buffer.alloc(0),
      [],
      'ERR_FDS_PEER_GONE',
      '/run/x closed the connection before sending fds',
      'the peer gone before anything came',
    ],
  ];
  for (const [data, fds, code, message, proves] of bad) {
    it(`refuses ${proves}, keeping every fd that came for the caller to close`, () => {
      const r = new FdBundleReader('/run/x', SCM_MAX_FD, false);
      expect(() => r.push({ data, fds })).toThrow(expect.objectContaining({ code, message, value: '/run/x' }));
      expect(r.fds).toEqual(fds);
    });
  }

  it('reports truncated control data and the peer gone mid-bundle with what arrived', () => {
    const r = new FdBundleReader('fd 3', 2, false);
    expect(() =>
      r.push({ data: frame('SOCKACT_FDS=0\nLISTEN_FDNAMES='), fds: [4, 5], controlTruncated: true }),
    ).toThrow(
      'fd 3 sent more fds than fit (MSG_CTRUNC, room for 2): ' +
        'the 2 that arrived are closed, the kernel dropped the rest',
    );
    const [first] = formatFdBundle(
      Array.from({ length: 300 }, (_, i) => i),
      undefined,
    );
    const g = new FdBundleReader('fd 3', 300, false);
    g.push({ data: first!.data, fds: [...first!.fds] });
    expect(() => g.push({ data: Buffer.alloc(0), fds: [] })).toThrow(
      expect.objectContaining({
        code: 'ERR_FDS_PEER_GONE',
        message: 'fd 3 closed the connection after 253 of 300 fds',
      }),
    );
    expect(g.fds).toHaveLength(253);
  });

  it('refuses names and messages no receiver would take, before anything is sent', () => {
    expect(() => formatFdBundle([3, 4], ['a'])).toThrow('1 names for 2 fds');
    expect(() => formatFdBundle([3], ['a:b'])).toThrow("fd name 'a:b' contains ':'");
    expect(() => formatFdBundle([3], ['a'], Buffer.alloc(65537))).toThrow(
      'the message is 65537 bytes, at most 65536 go with fds',
    );
  });
});
