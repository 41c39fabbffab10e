import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SockactError } from '../../src/protocol/errors.js';
import { parseListen, parseListenAddress, parsePositiveInt, type ListenSpec } from '../../src/protocol/address.js';
import { formatSockAddr } from '../../src/protocol/sockaddr.js';

describe('parseListenAddress', () => {
  it.each([
    // A bare port is every address, dual-stack: [::] with IPv4 accepted too (systemd.socket).
    ['8080', { family: 'inet6', address: '::', port: 8080, wildcard: true }],
    // sockact's :PORT spelling means the same.
    [':8080', { family: 'inet6', address: '::', port: 8080, wildcard: true }],
    // Port 0 asks the kernel for a free port (sockact's extension; systemd refuses it).
    ['0', { family: 'inet6', address: '::', port: 0, wildcard: true }],
    [':0', { family: 'inet6', address: '::', port: 0, wildcard: true }],
    ['127.0.0.1:80', { family: 'inet', address: '127.0.0.1', port: 80 }],
    ['0.0.0.0:65535', { family: 'inet', address: '0.0.0.0', port: 65535 }],
    ['[::1]:53', { family: 'inet6', address: '::1', port: 53 }],
    // The %dev scope stays text: the binder resolves interface names.
    ['[fe80::1%eth0]:80', { family: 'inet6', address: 'fe80::1', port: 80, scope: 'eth0' }],
    ['[fe80::1%2]:80', { family: 'inet6', address: 'fe80::1', port: 80, scope: '2' }],
    // systemd.socket's own spelling: %dev after the port. For IPv6 it is the scope...
    ['[fe80::1]:80%eth0', { family: 'inet6', address: 'fe80::1', port: 80, scope: 'eth0' }],
    // ...for IPv4 an interface systemd checks exists and then does not bind to (no scope in sockaddr_in).
    ['127.0.0.1:80%lo', { family: 'inet', address: '127.0.0.1', port: 80, scope: 'lo' }],
    // An IPv4-mapped IPv6 address is still written in brackets.
    ['[::ffff:127.0.0.1]:1', { family: 'inet6', address: '::ffff:127.0.0.1', port: 1 }],
    ['/run/app.sock', { family: 'unix', path: '/run/app.sock' }],
    // Relative paths are resolved against the working directory (sockact's extension).
    ['./app.sock', { family: 'unix', path: resolve('app.sock') }],
    ['../x/app.sock', { family: 'unix', path: resolve('../x/app.sock') }],
    // '@' stands for the leading NUL of an abstract name, as systemd writes it.
    ['@app', { family: 'unix', path: '@app' }],
  ])('%s', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  it.each([
    ['', 'the address is empty'],
    ['http', 'not a PORT, IPv4:PORT, [IPv6]:PORT, /path or @name'],
    // Names are never resolved, as in systemd: the message says what to write instead.
    ['localhost:80', "'localhost' is not an IP address"],
    ['127.0.0.1:99999', 'port 99999 is out of range (0-65535)'],
    ['127.0.0.1:-1', "'-1' is not a port number"],
    ['127.0.0.1:', 'the port is missing after the colon'],
    [':', 'the port is missing after the colon'],
    // A leading colon is sockact's :PORT: what follows must be a port.
    [':http', "'http' is not a port number"],
    ['127.0.0.1', "the port is missing: '127.0.0.1:PORT'"],
    // A relative path needs ./ so that it cannot be mistaken for a host name.
    ['app.sock', 'not a PORT, IPv4:PORT, [IPv6]:PORT, /path or @name (a relative path starts with ./)'],
    ['127.0.0.1:8o', "'8o' is not a port number"],
    ['65536', 'port 65536 is out of range'],
    ['256.1.1.1:80', "'256.1.1.1' is not an IP address"],
    // IPv6 without brackets is ambiguous with the port separator.
    ['::1:80', 'IPv6 addresses go in brackets'],
    ['[::1]', 'the port is missing'],
    ['[::1]80', 'expected [IPv6]:PORT'],
    ['[nope]:80', "'nope' is not an IPv6 address"],
    ['[fe80::1%]:80', 'the interface after % is empty'],
    ['127.0.0.1:80%', 'the interface after % is empty'],
    ['[fe80::1%a]:80%b', 'the interface is given twice'],
    // A bare port takes no interface (systemd refuses 8080%lo too).
    ['8080%lo', '%dev follows an IP address and port only'],
    // systemd reads ports in base 0: 010 is port 8 there, 0x50 port 80, 080 an error. Never a
    // different port silently: a leading zero is refused, naming what systemd would bind.
    ['127.0.0.1:010', "port '010' is ambiguous (systemd reads it as port 8): write the port in plain decimal"],
    ['010', "port '010' is ambiguous (systemd reads it as port 8)"],
    ['[::1]:0x50', "port '0x50' is ambiguous (systemd reads it as port 80)"],
    ['127.0.0.1:080', "port '080' is ambiguous (systemd refuses it)"],
    ['127.0.0.1:00', "port '00' is ambiguous (systemd reads it as port 0)"],
    ['@', 'the abstract socket name after @ is empty'],
    // sun_path holds 108 bytes with its NUL.
    [`/${'x'.repeat(107)}`, 'at most 107 bytes, this one has 108'],
    [`@${'x'.repeat(108)}`, 'at most 107 bytes, this one has 108'],
  ])('rejects %j', (text, reason) => {
    expect(() => parseListenAddress(text)).toThrow(expect.objectContaining({ code: 'ERR_LISTEN_ADDRESS' }));
    expect(() => parseListenAddress(text)).toThrow(reason);
  });

  it('names the -l value in the message and the fields', () => {
    const err = (() => {
      try {
        parseListen('127.0.0.1:99999,name=web');
      } catch (e) {
        return e as SockactError;
      }
    })();
    expect(err?.message).toBe("-l '127.0.0.1:99999,name=web': port 99999 is out of range (0-65535)");
    expect(err?.code).toBe('ERR_LISTEN_ADDRESS');
    expect(err?.value).toBe('127.0.0.1:99999,name=web');
  });
});

describe('formatSockAddr', () => {
  it.each(['127.0.0.1:80', '127.0.0.1:80%lo', '[::1]:80', '[fe80::1%eth0]:80', '/run/x.sock', '@name'])(
    'prints %s back as written',
    (text) => {
      expect(formatSockAddr(parseListenAddress(text))).toBe(text);
    },
  );

  it('prints a bare port as the address it binds', () => {
    expect(formatSockAddr(parseListenAddress('8080'))).toBe('[::]:8080');
  });
});

describe('parseListen options', () => {
  const pick = (s: ListenSpec) => {
    const { text: _t, address: _a, ...rest } = s;
    return rest;
  };
  const base = { type: 'stream', reusePort: false, freebind: false, removeStale: false, removeOnExit: false };

  it.each<[string, Record<string, unknown>]>([
    // No options: a blocking stream socket with the kernel's defaults.
    ['8080', {}],
    ['8080,backlog=512,reuse-port,name=web', { backlog: 512, reusePort: true, name: 'web' }],
    // reuseport is accepted as systemd's ReusePort= is often written.
    ['8080,reuseport', { reusePort: true }],
    // Flags take yes/no spellings too; 'no' keeps the default.
    ['8080,reuse-port=yes,freebind=no', { reusePort: true }],
    ['[::]:80,v6only', { v6only: true }],
    // v6only=no is BindIPv6Only=both; without it, net.ipv6.bindv6only decides (BindIPv6Only=default).
    ['[::]:80,v6only=no', { v6only: false }],
    ['127.0.0.1:80,freebind', { freebind: true }],
    ['[::1]:53,dgram', { type: 'dgram' }],
    ['/run/a.sock,seqpacket', { type: 'seqpacket' }],
    ['@a,dgram', { type: 'dgram' }],
    [
      '/run/a.sock,mode=0660,user=www,group=www,remove-stale,remove-on-exit',
      { mode: 0o660, user: 'www', group: 'www', removeStale: true, removeOnExit: true },
    ],
    // Mode without the leading zero is still octal.
    ['/run/a.sock,mode=600', { mode: 0o600 }],
    // An empty name is valid (systemd keeps empty names).
    ['8080,name=', { name: '' }],
  ])('%s', (text, expected) => {
    expect(pick(parseListen(text))).toEqual({ ...base, ...expected });
  });

  it.each<[string, string]>([
    ['8080,bakclog=5', "unknown socket option 'bakclog'"],
    ['8080,', 'an empty socket option (two commas, or one at the end)'],
    ['8080,,name=web', 'an empty socket option'],
    ['8080,backlog', 'backlog needs a value'],
    ['8080,backlog=0', 'backlog=0: expected a positive whole number'],
    ['8080,backlog=many', 'backlog=many: expected a positive whole number'],
    ['8080,reuse-port=maybe', 'reuse-port=maybe: expected yes or no'],
    ['8080,name=a:b', "name=a:b is not a valid fd name (contains ':')"],
    ['8080,name=web,name=api', 'name is given twice'],
    ['8080,dgram,seqpacket', 'dgram and seqpacket exclude each other'],
    ['8080,dgram=yes', 'dgram takes no value'],
    // As in systemd-socket-activate: seqpacket is for UNIX sockets only.
    ['8080,seqpacket', 'seqpacket sockets need a UNIX address'],
    ['[::1]:53,dgram,backlog=5', 'backlog: datagram sockets do not listen'],
    ['8080,mode=0660', 'mode: it applies to UNIX socket paths only'],
    ['@a,mode=0660', 'mode: an abstract socket has no file'],
    ['@a,remove-stale', 'remove-stale: an abstract socket has no file'],
    ['/run/a.sock,mode=0999', 'mode=0999: expected an octal mode'],
    ['/run/a.sock,user=', 'user needs a value'],
    ['/run/a.sock,reuse-port', 'reuse-port: it applies to IP addresses only'],
    ['127.0.0.1:80,v6only', 'v6only: it applies to IPv6 addresses only'],
    // After a path, a word that looks like an option must be one: a typo never becomes part of a file name.
    [
      '/run/a.sock,mdoe=0660',
      "unknown socket option 'mdoe' (known: stream, dgram, seqpacket, name, backlog, reuse-port, freebind, " +
        'v6only, mode, user, group, remove-stale, remove-on-exit); write \\, for a comma that belongs to the path',
    ],
    ['/run/a,b', "unknown socket option 'b'"],
    ['/run/a,b.sock,dgram,x.y', "unknown socket option 'x.y'"],
  ])('rejects %s', (text, reason) => {
    expect(() => parseListen(text)).toThrow(reason);
  });

  it.each<[string, string, Record<string, unknown>]>([
    // A comma followed by what cannot be an option belongs to the path, as systemd binds it.
    ['/dir/a,b.sock', '/dir/a,b.sock', {}],
    ['/dir/a,b.sock,mode=0600', '/dir/a,b.sock', { mode: 0o600 }],
    ['/dir/a,1,2/s.sock,dgram', '/dir/a,1,2/s.sock', { type: 'dgram' }],
    ['@name,1', '@name,1', {}],
    // \, is a comma of the path whatever follows it.
    ['/dir/a\\,mode=1.sock', '/dir/a,mode=1.sock', {}],
    ['/dir/a\\,b,remove-stale', '/dir/a,b', { removeStale: true }],
  ])('reads %s as the path %s', (text, path, options) => {
    const spec = parseListen(text);
    expect(spec.address).toEqual({ family: 'unix', path });
    expect(pick(spec)).toEqual({ ...base, ...options });
  });

  it('applies global defaults only where they make sense, and own options override them', () => {
    const defaults = { mode: 0o600, reusePort: true, backlog: 10, type: 'dgram' as const };
    // A UNIX path takes the mode; reuse-port (IP only) is not forced on it; the type applies.
    expect(pick(parseListen('/run/a.sock', defaults))).toEqual({ ...base, type: 'dgram', mode: 0o600 });
    // A datagram IP socket takes reuse-port but no backlog.
    expect(pick(parseListen('127.0.0.1:0', defaults))).toEqual({ ...base, type: 'dgram', reusePort: true });
    // The socket's own options win over the defaults.
    expect(pick(parseListen('127.0.0.1:0,stream,backlog=5', defaults))).toEqual({
      ...base,
      reusePort: true,
      backlog: 5,
    });
  });

  it(
    'keeps the global type default from turning an IP address ' +
      'into seqpacket silently, and says the default did it',
    () => {
      const err = (text: string, defaults = {}) => {
        try {
          parseListen(text, defaults);
        } catch (e) {
          return e as SockactError;
        }
        throw new Error(`${text} parsed`);
      };
      expect(err('8080', { type: 'seqpacket' })).toMatchObject({
        message: "-l '8080': seqpacket sockets need a UNIX address: /path or @name",
        fromDefault: 'type',
      });
      // Written on the -l value itself, it is the value's own mistake.
      expect(err('8080,seqpacket').fromDefault).toBeUndefined();
    },
  );
});

describe('parsePositiveInt', () => {
  it.each<[string, number | undefined]>([
    ['1', 1],
    ['4096', 4096],
    ['2147483647', 2147483647],
    // Zero, too large, signs, blanks, decimals and hex are not counts.
    ['0', undefined],
    ['2147483648', undefined],
    ['-1', undefined],
    ['+1', undefined],
    [' 1', undefined],
    ['1.5', undefined],
    ['0x10', undefined],
    ['', undefined],
  ])('%j', (text, n) => {
    expect(parsePositiveInt(text)).toBe(n);
  });
});
