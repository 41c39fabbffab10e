// The examples run as real socket-activated children (fd 3 from us, exact LISTEN_PID).
// examples/hello is also run by systemd-socket-activate in socket-activate.test.ts.
import { execFileSync } from 'node:child_process';
import { constants as fsc, openSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileTempDir } from '../_support/tmp.js';
import { waitUntil } from '../_support/wait.js';
import { listener, ROOT, runActivated } from './_helpers.js';

const dir = fileTempDir();

/** `text` on the child's stderr, bounded: its exit first, or none within the bound, is an error with its stderr. */
function waitFor(child: ReturnType<typeof runActivated>, text: RegExp): Promise<void> {
  return waitUntil(
    `${text} on stderr of pid ${child.proc.pid}`,
    () => {
      if (text.test(child.stderr())) return true;
      if (child.proc.exitCode !== null || child.proc.signalCode !== null)
        throw new Error(`exited early: ${child.stderr()}`);
      return false;
    },
    { every: 10, seen: () => JSON.stringify(child.stderr()) },
  );
}

describe('examples', () => {
  it('examples/http2 serves h2c on the inherited socket', async () => {
    const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const port = (l.addr as { port: number }).port;
    const child = runActivated([l.fd], process.execPath, [path.join(ROOT, 'examples/http2/server.js')]);
    await waitFor(child, /http2: listening on 127\.0\.0\.1:\d+ \(socket-activated\)/);
    const client = http2.connect(`http://127.0.0.1:${port}`);
    const body = await new Promise<string>((resolve, reject) => {
      let b = '';
      client
        .request({ ':path': '/' })
        .setEncoding('utf8')
        .on('data', (d) => (b += d))
        .on('end', () => resolve(b))
        .on('error', reject);
    });
    client.close();
    expect(body).toBe(`hello over HTTP/2 from pid ${child.proc.pid}\n`);
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });

  it('examples/https serves TLS on the inherited socket with a throwaway certificate', async () => {
    const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const port = (l.addr as { port: number }).port;
    const child = runActivated([l.fd], process.execPath, [path.join(ROOT, 'examples/https/server.js')]);
    await waitFor(child, /https: listening on 127\.0\.0\.1:\d+ \(socket-activated\)/);
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, rejectUnauthorized: false, agent: false }, (res) => {
          let b = '';
          res
            .setEncoding('utf8')
            .on('data', (d) => (b += d))
            .on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    expect(body).toBe(`hello over TLS from pid ${child.proc.pid}\n`);
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });

  // [example, what it inherits, extra environment, its whole stderr, what the row proves]
  const missing = `/tmp/sockact-missing-${process.pid}/notify`;
  const rows: [string, () => number[], Record<string, string>, RegExp, string][] = [
    [
      'hello',
      () => [tcp()],
      { LISTEN_FDS: 'abc' },
      /^hello: LISTEN_FDS is not a number: 'abc'\n$/,
      'a malformed LISTEN_FDS',
    ],
    [
      'hello',
      () => [tcp()],
      { LISTEN_FDS: '2' },
      /^hello: fd 4 \('unknown'\) is an epoll fd \(anon_inode:\[eventpoll\]\), most likely Node's own, opened right after the fds passed: LISTEN_FDS=2 is probably larger than the number of fds passed\n$/,
      'a fd in the range that is not one systemd passes',
    ],
    [
      'http2',
      () => [fifo()],
      {},
      /^http2: none of the 1 inherited fds is a listening stream socket: fd 3 is a FIFO, expected a listening stream socket\n$/,
      'a fd of the wrong kind',
    ],
    [
      'hello',
      () => [tcp()],
      { NOTIFY_SOCKET: missing },
      new RegExp(
        `^hello: pid \\d+ serving fd 3 \\(unknown\\) on 127\\.0\\.0\\.1:\\d+\\nhello: ` +
          `can't notify NOTIFY_SOCKET '${missing}': no such file or directory\\n$`,
      ),
      'a NOTIFY_SOCKET that does not exist',
    ],
  ];
  for (const [example, fds, env, stderr, proves] of rows) {
    it(`examples/${example} says what is wrong in one line and exits 1, no stack trace: ${proves}`, async () => {
      const child = runActivated(fds(), process.execPath, [path.join(ROOT, `examples/${example}/server.js`)], env);
      // 'close': every byte of stderr has been read, not just the exit seen.
      expect(await new Promise((resolve) => child.proc.once('close', resolve))).toBe(1);
      expect(child.stderr()).toMatch(stderr);
    });
  }
});

function tcp(): number {
  return listener({ family: 'inet', address: '127.0.0.1', port: 0 }).fd;
}

function fifo(): number {
  const p = path.join(dir, `fifo-${Math.random()}`);
  execFileSync('mkfifo', [p]);
  return openSync(p, fsc.O_RDWR | fsc.O_NONBLOCK);
}
