import { describe, expect, it } from 'vitest';
import { SockactError } from '../../src/protocol/errors.js';
import { isValidFdName } from '../../src/protocol/fdname.js';
import { checkFdName, formatNotify, parseNotifyMessage, parseNotifySocket } from '../../src/protocol/notify.js';

function message(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SockactError);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('formatNotify', () => {
  // [input, exact datagram text, what the row proves]
  const rows: [Parameters<typeof formatNotify>[0], string, string][] = [
    ['READY=1', 'READY=1', 'the raw form is sent as given'],
    ['READY=1\nSTATUS=up', 'READY=1\nSTATUS=up', 'raw lines stay as given'],
    [{ READY: 1, STATUS: 'serving' }, 'READY=1\nSTATUS=serving', 'fields become KEY=VALUE lines, in order'],
    [{ READY: true, X_DEBUG: false }, 'READY=1\nX_DEBUG=0', 'booleans are 1/0; custom keys start with X_'],
    [{ MONOTONIC_USEC: 123n }, 'MONOTONIC_USEC=123', 'bigints are written in full'],
    [{ STATUS: 'héllo' }, 'STATUS=héllo', 'UTF-8 values pass'],
    ['x'.repeat(4096), 'x'.repeat(4096), '4096 bytes is the largest message (systemd reads PIPE_BUF + 1)'],
  ];
  for (const [input, text, proves] of rows) {
    it(proves, () => expect(formatNotify(input).toString('utf8')).toBe(text));
  }

  // [input, exact message, what the row proves]
  const bad: [Parameters<typeof formatNotify>[0], string | RegExp, string][] = [
    ['x'.repeat(4097), 'notify message is too long: 4097 bytes (at most 4096)', '4097 bytes is dropped by systemd'],
    [
      { STATUS: 'é'.repeat(2046) },
      'notify message is too long: 4099 bytes (at most 4096)',
      'the limit is bytes, not characters',
    ],
    ['READY=1\0', "notify message contains a NUL byte: 'READY=1\\x00'", 'NUL bytes are dropped by receivers'],
    [{ STATUS: 'a\0b' }, "notify message contains a NUL byte: 'STATUS=a\\x00b'", 'NUL in a field value'],
    [
      { STATUS: 'two\nlines' },
      "notify field STATUS must be one line: 'two\\x0alines'",
      'a newline would start another key',
    ],
    [{ 'BAD=KEY': 1 }, "notify key is not a name: 'BAD=KEY'", "a key with '=' would shift the value"],
    [{ '': 1 }, "notify key is not a name: ''", 'an empty key'],
    ['', 'notify message is empty', 'nothing to send'],
    [{}, 'notify message is empty', 'no fields'],
  ];
  for (const [input, text, proves] of bad) {
    it(`rejects: ${proves}`, () => expect(message(() => formatNotify(input))).toMatch(text));
  }
});

describe('FDNAME validation (systemd fdname_is_valid)', () => {
  // [name, valid, what the row proves]
  const rows: [string, boolean, string][] = [
    ['web', true, 'a plain name'],
    ['', true, 'the empty name is valid in systemd'],
    ['a b~!', true, 'printable ASCII incl. space'],
    ['x'.repeat(255), true, '255 characters is the maximum'],
    ['x'.repeat(256), false, '256 is too long'],
    ['a:b', false, "':' separates LISTEN_FDNAMES"],
    ['tab\t', false, 'control characters'],
    ['del\x7f', false, 'DEL is not printable'],
    ['é', false, 'non-ASCII'],
  ];
  for (const [name, valid, proves] of rows) {
    it(proves, () => {
      expect(isValidFdName(name)).toBe(valid);
      if (!valid) expect(message(() => checkFdName(name))).toMatch(/^FDNAME (contains|longer)/);
    });
  }
});

describe('parseNotifySocket', () => {
  // [value, path or error, what the row proves]
  const rows: [string, string | RegExp, string][] = [
    ['/run/systemd/notify', '/run/systemd/notify', 'an absolute path'],
    ['@sockact/notify', '@sockact/notify', 'an abstract name keeps its @'],
    [`/${'x'.repeat(106)}`, `/${'x'.repeat(106)}`, '107 bytes plus NUL fill sun_path exactly'],
    [`/${'x'.repeat(107)}`, /^NOTIFY_SOCKET is too long: 108 bytes \(at most 107\)/, 'no room for the NUL'],
    [`@${'x'.repeat(107)}`, `@${'x'.repeat(107)}`, 'an abstract name may use 107 bytes after its leading NUL'],
    [`@${'x'.repeat(108)}`, /^NOTIFY_SOCKET is too long: 108 bytes/, 'but not 108'],
    [
      'relative/path',
      "NOTIFY_SOCKET must be an absolute path or an @abstract name: 'relative/path'",
      'relative paths are refused',
    ],
    ['', "NOTIFY_SOCKET must be an absolute path or an @abstract name: ''", 'set but empty'],
    ['@', "NOTIFY_SOCKET must be an absolute path or an @abstract name: '@'", 'an abstract name needs a name'],
    [
      'vsock:2:1234',
      "NOTIFY_SOCKET vsock addresses are not supported: 'vsock:2:1234'",
      'vsock (newer systemd) is said to be unsupported',
    ],
  ];
  for (const [value, expected, proves] of rows) {
    it(proves, () => {
      if (typeof expected === 'string' && !expected.startsWith('NOTIFY_SOCKET'))
        expect(parseNotifySocket(value)).toEqual({ path: expected });
      else expect(message(() => parseNotifySocket(value))).toMatch(expected);
    });
  }
});

describe('parseNotifyMessage', () => {
  it('splits KEY=VALUE lines, keeping "=" inside values and skipping lines without one', () => {
    expect([...parseNotifyMessage('READY=1\nSTATUS=a=b\ngarbage\nFDNAME=')]).toEqual([
      ['READY', '1'],
      ['STATUS', 'a=b'],
      ['FDNAME', ''],
    ]);
  });
});
