// notify against real AF_UNIX datagram receivers (Python's socket module), path and abstract:
// exact bytes, fds that really arrive, and clear errors.
import { statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { notify } from '../../src/app/notify.js';
import { SockactError } from '../../src/protocol/errors.js';
import * as sys from '../../src/sys/index.js';
import { exchange } from '../_support/launcher.js';
import { notifyReceivers, type Receiver } from '../_support/notify.js';
import { fileTempDir } from '../_support/tmp.js';

const dir = fileTempDir();
const startReceiver = notifyReceivers();
let n = 0;

/** A receiver at a path or an abstract name, made this process's NOTIFY_SOCKET. */
async function receiver(where: 'path' | 'abstract', ...flags: string[]): Promise<Receiver> {
  const r = await startReceiver({ at: where === 'path' ? path.join(dir, `notify-${n++}`) : undefined, flags });
  process.env.NOTIFY_SOCKET = r.addr;
  return r;
}

afterEach(() => {
  delete process.env.NOTIFY_SOCKET;
});

function thrown(f: () => unknown): SockactError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SockactError);
    return err as SockactError;
  }
  throw new Error('expected an error');
}

describe('notify to a real receiver', () => {
  for (const where of ['path', 'abstract'] as const) {
    it(`sends READY=1 as exactly those bytes (${where})`, async () => {
      const { child } = await receiver(where);
      expect(notify.ready({ watchdog: false })).toBe(true);
      const got = await child.json();
      expect(got.hex).toBe(Buffer.from('READY=1').toString('hex'));
      expect(got.fds).toEqual([]);
    });
  }

  it('sends a message of exactly 4096 bytes whole (systemd reads PIPE_BUF + 1 and accepts it)', async () => {
    const { child } = await receiver('abstract');
    const text = `STATUS=${'x'.repeat(4096 - 'STATUS='.length)}`;
    expect(notify(text)).toBe(true);
    const got = await child.json();
    expect(got.text).toBe(text);
    expect(got.hex.length / 2).toBe(4096);
  });

  it('every helper sends its one datagram', async () => {
    const { child } = await receiver('abstract');
    const sent: [() => boolean, string][] = [
      [() => notify.ready({ status: 'serving', watchdog: false }), 'READY=1\nSTATUS=serving'],
      [() => notify.stopping(), 'STOPPING=1'],
      [() => notify.status('42 requests'), 'STATUS=42 requests'],
      [() => notify.watchdog(), 'WATCHDOG=1'],
      [() => notify.watchdogTrigger(), 'WATCHDOG=trigger'],
      [() => notify.mainPid(1234), 'MAINPID=1234'],
      [() => notify.extendTimeout(5_000_000), 'EXTEND_TIMEOUT_USEC=5000000'],
      [() => notify.errno(2), 'ERRNO=2'],
      [() => notify('X_CUSTOM=yes\nSTATUS=raw'), 'X_CUSTOM=yes\nSTATUS=raw'],
      [() => notify({ STATUS: 'fields', X_N: 7 }), 'STATUS=fields\nX_N=7'],
      [() => notify.fdStoreRemove('web'), 'FDSTOREREMOVE=1\nFDNAME=web'],
    ];
    for (const [send, text] of sent) {
      expect(send()).toBe(true);
      expect((await child.json()).text).toBe(text);
    }
  });

  it('reloading() puts RELOADING=1 and MONOTONIC_USEC (CLOCK_MONOTONIC) in one datagram', async () => {
    const { child } = await receiver('path');
    expect(notify.reloading()).toBe(true);
    const got = await child.json();
    const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(got.text);
    expect(m).not.toBeNull();
    // The receiver's CLOCK_MONOTONIC (Python's time.monotonic_ns) at receipt: ours was taken
    // before it, on the same clock (a sanity window of seconds, not a timing assertion).
    const usec = Number(m![1]);
    expect(usec).toBeLessThanOrEqual(got.mono);
    expect(got.mono - usec).toBeLessThan(10_000_000);
  });

  it('fdStore passes the fds as SCM_RIGHTS with FDSTORE=1, FDNAME and FDPOLL=0', async () => {
    const { child } = await receiver('path');
    const fd = sys.socket('inet', 'stream');
    sys.bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
    sys.listenSocket(fd, 4);
    const { port } = sys.getsockname(fd) as { port: number };
    expect(notify.fdStore([fd, { fd }], { name: 'web', poll: false })).toBe(true);
    sys.closeFd(fd);
    const got = await child.json();
    expect(got.text).toBe('FDSTORE=1\nFDNAME=web\nFDPOLL=0');
    // Two copies of the same socket, which the receiver can getsockname().
    expect(got.fds).toHaveLength(2);
    expect(got.fds[0]).toMatchObject({ sock: true, local: ['127.0.0.1', port] });
    expect(got.fds[1].ino).toBe(got.fds[0].ino);
  });

  it(
    'a stored listening socket really works on the other side: ' + 'the receiver accepts on it after we closed ours',
    async () => {
      const { child } = await receiver('path', '--serve');
      const fd = sys.socket('inet', 'stream');
      sys.bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
      sys.listenSocket(fd, 4);
      const { port } = sys.getsockname(fd) as { port: number };
      expect(notify.fdStore([fd], { name: 'web' })).toBe(true);
      sys.closeFd(fd);
      const got = await child.json();
      expect(got.text).toBe('FDSTORE=1\nFDNAME=web');
      expect(got.fds).toEqual([expect.objectContaining({ sock: true, listening: true, local: ['127.0.0.1', port] })]);
      expect(await exchange({ host: '127.0.0.1', port })).toBe('served by the receiver\n');
    },
  );

  it('fdStore without a name sends no FDNAME (systemd then says "stored")', async () => {
    const { child } = await receiver('abstract');
    const [r, w] = sys.pipe(sys.O_CLOEXEC);
    expect(notify.fdStore([r])).toBe(true);
    const got = await child.json();
    expect(got.text).toBe('FDSTORE=1');
    expect(got.fds).toEqual([expect.objectContaining({ fifo: true, ino: statSync(`/proc/self/fd/${r}`).ino })]);
    sys.closeFd(r);
    sys.closeFd(w);
  });

  it('barrier() sends BARRIER=1 alone with a pipe write end and resolves once the receiver closed it', async () => {
    const { child } = await receiver('path');
    expect(await notify.barrier(5000)).toBe(true);
    const got = await child.json();
    expect(got.text).toBe('BARRIER=1');
    expect(got.fds).toEqual([expect.objectContaining({ fifo: true })]);
  });

  it('barrier() rejects when the receiver keeps the fd past the timeout', async () => {
    await receiver('abstract', '--hold');
    await expect(notify.barrier(200)).rejects.toMatchObject({
      code: 'ERR_NOTIFY_TIMEOUT',
      message: expect.stringMatching(/^no answer to BARRIER=1 on NOTIFY_SOCKET '@sockact-test-[\w-]+' within 200 ms$/),
    });
  });
});

describe('notify outcomes without a receiver', () => {
  it('NOTIFY_SOCKET unset: false from every helper (not supported), nothing thrown', async () => {
    delete process.env.NOTIFY_SOCKET;
    expect([
      notify.ready({ watchdog: false }),
      notify.reloading(),
      notify.stopping(),
      notify.status('x'),
      notify.watchdog(),
      notify.mainPid(1),
      notify.fdStore([0]),
      notify('READY=1'),
      await notify.barrier(),
    ]).toEqual(new Array(9).fill(false));
  });

  const missing = `/tmp/sockact-missing-${process.pid}/notify`;
  const nobody = `@sockact-nobody-${process.pid}`;
  const long = `/${'x'.repeat(120)}`;
  // [NOTIFY_SOCKET, code, exact message, what the row proves]
  const rows: [string, string, string, string][] = [
    [missing, 'ENOENT', `can't notify NOTIFY_SOCKET '${missing}': no such file or directory`, 'a missing path'],
    [
      nobody,
      'ECONNREFUSED',
      `can't notify NOTIFY_SOCKET '${nobody}': connection refused`,
      'an abstract name nobody bound',
    ],
    [
      long,
      'ERR_NOTIFY_SOCKET',
      `NOTIFY_SOCKET is too long: 121 bytes (at most 107): '${long}'`,
      'a path too long for sun_path',
    ],
    [
      'notify.sock',
      'ERR_NOTIFY_SOCKET',
      "NOTIFY_SOCKET must be an absolute path or an @abstract name: 'notify.sock'",
      'a relative path',
    ],
  ];
  for (const [value, code, message, proves] of rows) {
    it(`throws for ${proves}`, () => {
      process.env.NOTIFY_SOCKET = value;
      const err = thrown(() => notify.ready({ watchdog: false }));
      expect(err).toMatchObject({ code, message, variable: 'NOTIFY_SOCKET', value });
      // OS errors keep the seam's error (code, errno, syscall) as the cause.
      if (!code.startsWith('ERR_')) expect(err.cause).toMatchObject({ code, syscall: 'sendmsg' });
    });
  }

  // [call, message, what the row proves] - checked before NOTIFY_SOCKET, so they fail in development too.
  const bad: [() => unknown, RegExp, string][] = [
    [
      () => notify('X'.repeat(4097)),
      /^notify message is too long: 4097 bytes \(at most 4096\)$/,
      'an oversized message',
    ],
    [() => notify.status('a\0b'), /NUL byte/, 'a NUL byte'],
    [() => notify.status('two\nlines'), /^notify field STATUS must be one line/, 'a multi-line STATUS'],
    [() => notify.fdStore([0], { name: 'a:b' }), /^FDNAME contains ':': 'a:b'$/, "an FDNAME with ':'"],
    [() => notify.fdStore([0], { name: 'x'.repeat(256) }), /^FDNAME longer than 255 characters/, 'an FDNAME too long'],
    [
      () => notify.fdStoreRemove('tab\t'),
      /^FDNAME contains a character that is not printable ASCII: 'tab\\x09'$/,
      'an FDNAME with a control character',
    ],
    [() => notify.fdStore([]), /^fdStore needs at least one fd$/, 'an empty fd list'],
    [() => notify.fdStore([-1]), /^not a fd: '-1'$/, 'a negative fd'],
    [() => notify.mainPid(0), /^MAINPID must be a process id: '0'$/, 'pid 0'],
    [
      () => notify.extendTimeout(-1),
      /^EXTEND_TIMEOUT_USEC must be a non-negative integer: '-1'$/,
      'a negative timeout',
    ],
  ];
  for (const [call, message, proves] of bad) {
    it(`rejects ${proves}, even with NOTIFY_SOCKET unset`, () => {
      delete process.env.NOTIFY_SOCKET;
      const err = thrown(call);
      expect(err.code).toBe('ERR_NOTIFY_MESSAGE');
      expect(err.message).toMatch(message);
    });
  }
});
