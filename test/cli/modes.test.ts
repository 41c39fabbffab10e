import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exchange, hostPort, listeningOn, PYTHON, SD_PEER, sockact } from '../_support/launcher.js';

/** Reads one datagram from fd 3 (the socket sockact bound) and prints it. */
const UDP_READER = join(import.meta.dirname, 'fixtures/udp-reader.py');

describe('sockact --on-demand', () => {
  it('starts the program on the first connection without accepting it: the program serves it', async () => {
    const r = sockact(['--on-demand', '-l', '127.0.0.1:0', '--', PYTHON, SD_PEER, '--serve-once']);
    const target = hostPort(await listeningOn(r));
    await r.waitFor('stderr', /waiting for the first connection or datagram\n/);
    // Nothing has connected, so nothing can have started.
    expect(r.stderr).not.toContain('started');
    const reply = JSON.parse(await exchange(target));
    const pid = Number((await r.waitFor('stderr', /started .* as pid (\d+)/))[1]);
    // The answer on the very first connection comes from the program, which accepted it itself.
    expect(reply.pid).toBe(pid);
    expect(reply.fds[0]).toMatchObject({ fd: 3, listening: true });
    expect((await r.exited).code).toBe(0);
  });

  it('starts the program on the first datagram, which stays queued for it', async () => {
    const r = sockact(['--on-demand', '-d', '-l', '127.0.0.1:0', '--', PYTHON, UDP_READER]);
    const { port } = hostPort(await listeningOn(r));
    await r.waitFor('stderr', /waiting for the first connection or datagram\n/);
    const sender = createSocket('udp4');
    await new Promise<void>((res, rej) =>
      sender.send('first datagram', port, '127.0.0.1', (e) => (e ? rej(e) : res())),
    );
    sender.close();
    expect((await r.exited).code).toBe(0);
    expect(r.stdout).toBe('first datagram\n');
  });
});

describe('sockact --on-demand, stopped while waiting', () => {
  it('ends by the signal and starts nothing', async () => {
    const r = sockact(['--on-demand', '-l', '127.0.0.1:0', '--', PYTHON, SD_PEER]);
    await r.waitFor('stderr', /waiting for the first connection or datagram\n/);
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
    expect(r.stderr).not.toContain('started');
    expect(r.stdout).toBe('');
  });
});

describe('sockact --accept', () => {
  it(
    'with --inetd, serves each connection with a program ' + 'on stdin/stdout, with REMOTE_ADDR and REMOTE_PORT',
    async () => {
      const r = sockact([
        '-a',
        '--inetd',
        '--max-connections',
        '2',
        '-l',
        '127.0.0.1:0',
        '--',
        'sh',
        '-c',
        'echo "$REMOTE_ADDR $REMOTE_PORT"; cat',
      ]);
      const { port } = hostPort((await r.waitFor('stderr', /listening on (\S+)/))[1]!);
      await r.waitFor('stderr', /accepting connections for sh -c .* \(at most 2 at once\)\n/);
      const local = await new Promise<{ reply: string; localPort: number }>((res, rej) => {
        let localPort = -1;
        const s = connect({ host: '127.0.0.1', port }, () => {
          localPort = s.localPort!;
          s.end('and an echo\n');
        });
        let reply = '';
        s.setEncoding('utf8');
        s.on('data', (d: string) => (reply += d));
        s.on('error', rej);
        s.on('close', () => res({ reply, localPort }));
      });
      expect(local.reply).toBe(`127.0.0.1 ${local.localPort}\nand an echo\n`);
      expect(r.stderr).toMatch(
        new RegExp(
          `connection from 127\\.0\\.0\\.1:${local.localPort} on 127\\.0\\.0\\.1:${port}: started sh -c .* as pid \\d+`,
        ),
      );
      r.child.kill('SIGTERM');
      expect(await r.ended('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
    },
  );

  it('on SIGTERM stops accepting, passes it to the running programs, and ends by it once they are gone', async () => {
    // The handler is in place before "serving" is printed: the test signals as soon as it reads it.
    const r = sockact([
      '-a',
      '-l',
      '127.0.0.1:0',
      '--',
      PYTHON,
      join(import.meta.dirname, 'fixtures/sigterm-holder.py'),
    ]);
    const { port } = hostPort((await r.waitFor('stderr', /listening on (\S+)/))[1]!);
    const c = connect({ host: '127.0.0.1', port });
    c.on('error', () => undefined);
    await r.waitFor('stdout', /serving\n/);
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
    expect(r.stdout).toBe('serving\nstopping\n');
    expect(r.stderr).toMatch(/pid \d+ exited with code 0\n$/);
    c.destroy();
  });
});
