import { describe, expect, it } from 'vitest';
import { formatHandoffError, formatHandoffHeader, parseHandoffHeader } from '../../src/protocol/handoff.js';

describe('hand-off header', () => {
  // [header text, count, names, what the row proves]
  const good: [string, number, string[], string][] = [
    ['SOCKACT_FDS=2\nLISTEN_FDNAMES=web:admin', 2, ['web', 'admin'], 'names in fd order'],
    ['SOCKACT_FDS=3\nLISTEN_FDNAMES=a::b', 3, ['a', '', 'b'], 'empty names are kept, as in LISTEN_FDNAMES'],
    ['SOCKACT_FDS=0\nLISTEN_FDNAMES=', 0, [], 'no sockets at all'],
  ];
  for (const [text, count, names, proves] of good) {
    it(proves, () => expect(parseHandoffHeader(Buffer.from(text), '/run/x')).toEqual({ count, names }));
  }
  it('round-trips what the launcher formats', () => {
    expect(parseHandoffHeader(formatHandoffHeader(['web', 'unknown']), '/p')).toEqual({ count: 2, names: ['web', 'unknown'] });
  });
  // [header text, what the row proves]
  const bad: [string, string][] = [
    ['SOCKACT_FDS=2\nLISTEN_FDNAMES=web', 'a name count that differs from the fd count'],
    ['SOCKACT_FDS=0x2\nLISTEN_FDNAMES=a:b', 'a count that is not plain decimal'],
    ['LISTEN_FDNAMES=web', 'no count at all'],
    ['', 'an empty message'],
  ];
  for (const [text, proves] of bad) {
    it(`refuses ${proves}`, () =>
      expect(() => parseHandoffHeader(Buffer.from(text), '/run/x')).toThrow(`sockact at SOCKACT_FDS_SOCKET=/run/x sent a malformed header: '${text.replaceAll('\n', '\\x0a')}'`));
  }
  it("turns the launcher's refusal into one line naming the socket", () => {
    expect(() => parseHandoffHeader(formatHandoffError('pid 7 is not\nthe program'), '/run/x')).toThrow(
      'sockact at SOCKACT_FDS_SOCKET=/run/x refused: pid 7 is not the program',
    );
  });
});
