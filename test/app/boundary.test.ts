// The one error story: whatever the layers below throw leaves the app API as a SockactError with a
// code and the original as `cause`. Real errors of the seam, not imitations of them.
import { describe, expect, it } from 'vitest';
import { toSockactError } from '../../src/app/boundary.js';
import { listenFds } from '../../src/app/listen-fds.js';
import { notify } from '../../src/app/notify.js';
import { SockactError } from '../../src/protocol/errors.js';
import { encodeSockAddr } from '../../src/protocol/sockaddr.js';
import * as sys from '../../src/sys/index.js';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('toSockactError', () => {
  it('an OS error of the seam keeps its errno name as the code, and its short reason', () => {
    const cause = thrown(() => sys.setCloexec(987_654));
    const err = toSockactError(cause, "can't inspect fd 987654 ('x')", { fd: 987_654 });
    expect(err).toBeInstanceOf(SockactError);
    expect(err).toMatchObject({
      code: 'EBADF',
      fd: 987_654,
      message: "can't inspect fd 987654 ('x'): bad file descriptor",
    });
    expect(err.cause).toBe(cause);
  });

  it("the sockaddr codec's TypeError and RangeError become ERR_ADDRESS / their code", () => {
    const bad = thrown(() => encodeSockAddr({ family: 'inet', address: '1.2.3', port: 1 }));
    expect(bad).toBeInstanceOf(TypeError);
    expect(toSockactError(bad, "can't connect")).toMatchObject({
      code: 'ERR_ADDRESS',
      message: "can't connect: not an IPv4 address: '1.2.3'",
      cause: bad,
    });
    const long = thrown(() => encodeSockAddr({ family: 'unix', path: `/${'x'.repeat(200)}` }));
    expect(long).toBeInstanceOf(RangeError);
    expect(toSockactError(long, "can't connect")).toMatchObject({ code: 'ENAMETOOLONG', cause: long });
  });

  it('a SockactError passes unchanged; anything else is ERR_INTERNAL with the cause', () => {
    const own = new SockactError('ERR_FD_KIND', 'x');
    expect(toSockactError(own, 'ctx')).toBe(own);
    const other = new Error('boom');
    expect(toSockactError(other, 'ctx')).toMatchObject({ code: 'ERR_INTERNAL', message: 'ctx: boom', cause: other });
  });
});

describe('errors that leave the app API are SockactErrors', () => {
  it('notify to a NOTIFY_SOCKET that does not exist: the OS code, the variable and the value', () => {
    process.env.NOTIFY_SOCKET = `/nonexistent-sockact/${process.pid}`;
    try {
      const err = thrown(() => notify.status('x'));
      expect(err).toBeInstanceOf(SockactError);
      expect(err).toMatchObject({ code: 'ENOENT', variable: 'NOTIFY_SOCKET', value: process.env.NOTIFY_SOCKET });
      expect((err as SockactError).cause).toMatchObject({ syscall: 'sendmsg' });
    } finally {
      delete process.env.NOTIFY_SOCKET;
    }
  });

  it('listenFds() behind a wrapper whose SOCKACT_FDS_SOCKET path cannot even be encoded', () => {
    const path = `/${'x'.repeat(200)}`;
    Object.assign(process.env, { LISTEN_PID: '1', LISTEN_FDS: '1', SOCKACT_FDS_SOCKET: path });
    const err = thrown(() => listenFds());
    expect(err).toBeInstanceOf(SockactError);
    expect(err).toMatchObject({ code: 'ERR_HANDOFF', variable: 'SOCKACT_FDS_SOCKET', value: path });
    expect((err as SockactError).cause).toBeInstanceOf(RangeError);
  });
});
