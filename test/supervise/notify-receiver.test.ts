import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NotifyReceiver } from '../../src/supervise/notify-receiver.js';
import { closeFd, pipe } from '../../src/sys/fd.js';
import { sendmsg } from '../../src/sys/msg.js';
import { socket } from '../../src/sys/socket.js';
import { perTest } from '../_support/tmp.js';
import { waitUntil } from '../_support/wait.js';

// The notify sockets' own logic, with real datagrams: what is passed on, what is dropped and
// said, fds closed, files and directory private and removed. The supervisor's use of it is
// tested end to end in test/supervise/e2e.test.ts.

const { defer } = perTest();

function receiver() {
  const warnings: string[] = [];
  const r = new NotifyReceiver(undefined, (line) => warnings.push(line));
  defer(() => r.close());
  return { r, warnings };
}

/** A notify socket of `r` and the messages it passed on. */
function channel(r: NotifyReceiver) {
  const got: Map<string, string>[] = [];
  const ch = r.open(
    (fields) => got.push(new Map(fields)),
    () => 'pid 42',
  );
  defer(() => ch.close());
  return { ...ch, got };
}

function send(path: string, data: Buffer | string, fds: number[] = []): void {
  const fd = socket('unix', 'dgram');
  try {
    sendmsg(fd, Buffer.from(data), { to: { family: 'unix', path }, fds });
  } finally {
    closeFd(fd);
  }
}

describe('NotifyReceiver', () => {
  it('passes each datagram on as its fields, in order', async () => {
    const { r } = receiver();
    const ch = channel(r);
    send(ch.path, 'READY=1\nSTATUS=serving\n');
    send(ch.path, 'WATCHDOG=1');
    await waitUntil('message 2', () => ch.got.length === 2);
    expect(ch.got.map((m) => Object.fromEntries(m))).toEqual([{ READY: '1', STATUS: 'serving' }, { WATCHDOG: '1' }]);
  });

  it("takes systemd-notify's datagrams (a real sender)", async () => {
    const { r } = receiver();
    const ch = channel(r);
    const child = spawn('systemd-notify', ['--no-block', 'READY=1', 'STATUS=from systemd-notify'], {
      env: { ...process.env, NOTIFY_SOCKET: ch.path },
      stdio: 'ignore',
    });
    await new Promise((resolve) => child.on('exit', resolve));
    await waitUntil('message 1', () => ch.got.length === 1);
    expect(ch.got[0]!.get('READY')).toBe('1');
    expect(ch.got[0]!.get('STATUS')).toBe('from systemd-notify');
  });

  it('drops a datagram over 4096 bytes or with a NUL byte, saying so once each, and goes on', async () => {
    const { r, warnings } = receiver();
    const ch = channel(r);
    send(ch.path, `STATUS=${'x'.repeat(4096)}`);
    send(ch.path, 'READY=1\0');
    send(ch.path, `STATUS=${'y'.repeat(4080)}`); // 4087 bytes: the largest kind still taken
    await waitUntil('message 1', () => ch.got.length === 1);
    expect(ch.got[0]!.get('STATUS')).toHaveLength(4080);
    expect(warnings).toEqual([
      'dropped a notify message from pid 42: more than 4096 bytes',
      'dropped a notify message from pid 42: it contains a NUL byte',
    ]);
  });

  it('closes the fds a datagram carries (no fd store here) and still passes the message on', async () => {
    const { r } = receiver();
    const ch = channel(r);
    const [rd, wr] = pipe(0);
    const before = readdirSync('/proc/self/fd').length;
    send(ch.path, 'FDSTORE=1\nFDNAME=x', [rd, wr]);
    closeFd(rd);
    closeFd(wr);
    await waitUntil('message 1', () => ch.got.length === 1);
    expect(ch.got[0]!.get('FDSTORE')).toBe('1');
    // The two received copies are closed again: no fd left behind.
    expect(readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(before - 2);
  });

  it('makes each socket 0600 in a 0700 directory, removes it on close, and the directory on close()', () => {
    const { r } = receiver();
    const a = channel(r);
    const b = channel(r);
    expect(a.path).not.toBe(b.path);
    expect(lstatSync(r.dir).mode & 0o777).toBe(0o700);
    expect(lstatSync(a.path).isSocket()).toBe(true);
    expect(lstatSync(a.path).mode & 0o777).toBe(0o600);
    a.close();
    a.close(); // twice is once
    expect(existsSync(a.path)).toBe(false);
    b.close();
    r.close();
    expect(existsSync(r.dir)).toBe(false);
  });

  it('removes the directory on close() even with something left in it', () => {
    const { r } = receiver();
    channel(r); // not closed before the receiver
    r.close();
    expect(existsSync(r.dir)).toBe(false);
  });
});
