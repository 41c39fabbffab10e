// sendFds / receiveFds between unrelated processes: an independent peer written with Python's own
// socket.send_fds / recv_fds on the other side, both directions, stream and seqpacket; 253 and
// more fds; truncation, limits and a vanished peer, with the fd table counted before and after.
import { spawn } from 'node:child_process';
import { openSync, readdirSync, readSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { receiveFds, sendFds } from '../../src/app/fdpass.js';
import * as sys from '../../src/sys/index.js';
import { wrap, type Child } from '../_support/child.js';
import { httpGet } from '../_support/http.js';
import { fileTempDir } from '../_support/tmp.js';

const PEER = path.join(import.meta.dirname, 'fixtures/fdpass-peer.py');
const PYTHON = '/usr/bin/python3';
const dir = fileTempDir();
const children: Child[] = [];
let n = 0;

afterEach(() => {
  for (const c of children.splice(0)) c.proc.kill('SIGKILL');
});

function sockPath(): string {
  return path.join(dir, `fdpass-${n++}.sock`);
}

function peer(...args: string[]): Child {
  const child = wrap(spawn(PYTHON, [PEER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  children.push(child);
  return child;
}

const fdCount = () => readdirSync('/proc/self/fd').length;

/** The fd table once sockets of earlier tests have finished closing (same count three reads in a row). */
async function settledCount(): Promise<number> {
  let last = -1;
  for (let same = 0, i = 0; same < 3 && i < 100; i++) {
    const now = fdCount();
    same = now === last ? same + 1 : 0;
    last = now;
    await new Promise((r) => setTimeout(r, 20));
  }
  return last;
}

/** The fd table is back to `before` (the poll loop closes its wake pipe a tick after it idles). */
async function noLeak(before: number): Promise<void> {
  for (let i = 0; i < 50 && fdCount() !== before; i++) await new Promise((r) => setTimeout(r, 20));
  expect(fdCount()).toBe(before);
}

function contentOf(fd: number): string {
  const buf = Buffer.alloc(100);
  return buf.subarray(0, readSync(fd, buf, 0, 100, 0)).toString();
}

function closeAll(fds: readonly number[]): void {
  for (const fd of fds) sys.closeFd(fd);
}

describe('receiveFds from a Python sender (socket.send_fds)', () => {
  for (const type of ['seqpacket', 'stream'] as const) {
    it(`receives fds with names, the message and the sender's credentials over ${type}, close-on-exec`, async () => {
      const before = await settledCount();
      const p = sockPath();
      const got = receiveFds(p, { type });
      const py = peer('send', p, type, '3', 'hello from python');
      const sent = await py.json();
      const b = await got;
      expect(b.names).toEqual(['f0', 'f1', 'f2']);
      expect(b.message.toString()).toBe('hello from python');
      expect(b.peer).toEqual({ pid: sent.pid, uid: process.getuid!(), gid: process.getgid!() });
      expect(b.fds).toHaveLength(3);
      expect(b.fds.map(contentOf)).toEqual(Array(3).fill(`file from python ${sent.pid}`));
      expect(b.fds.every((fd) => sys.isCloexec(fd))).toBe(true);
      expect(() => statSync(p)).toThrow(/ENOENT/); // the socket file is gone again
      closeAll(b.fds);
      await noLeak(before);
    });
  }

  it('adopts a listening TCP socket a Python process made, and serves on it', async () => {
    const p = sockPath();
    const got = receiveFds(p);
    peer('send-listener', p);
    const b = await got;
    expect(b.names).toEqual(['web']);
    const server = http.createServer((_req, res) => res.end(`served by ${process.pid}\n`));
    await new Promise<void>((r) => server.listen({ fd: b.fds[0] }, r));
    const { port } = server.address() as net.AddressInfo;
    const { body } = await httpGet({ host: '127.0.0.1', port });
    expect(body).toBe(`served by ${process.pid}\n`);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  for (const count of [253, 254, 600]) {
    it(`receives ${count} fds (${Math.ceil(count / 253)} SCM_RIGHTS messages), none lost, none leaked`, async () => {
      const before = await settledCount();
      const p = sockPath();
      const got = receiveFds(p, { maxFds: 600 });
      const py = peer('send', p, 'seqpacket', String(count), '');
      const sent = await py.json();
      const b = await got;
      expect(b.fds).toHaveLength(count);
      expect(new Set(b.fds).size).toBe(count);
      expect(b.names[count - 1]).toBe(`f${count - 1}`);
      expect(contentOf(b.fds[count - 1]!)).toBe(`file from python ${sent.pid}`);
      closeAll(b.fds);
      await noLeak(before);
    });
  }
});

describe('receiveFds limits and errors: whatever arrived is closed', () => {
  it('control data truncated (more fds in one message than the receiver has room for): MSG_CTRUNC', async () => {
    const before = await settledCount();
    const p = sockPath();
    const got = receiveFds(p, { maxFds: 2 });
    peer('send-raw', p, '5', '5');
    await expect(got).rejects.toMatchObject({
      code: 'ERR_FDS_TRUNCATED',
      message: expect.stringMatching(
        /^the sender \(pid \d+\) on \S+ sent more fds than fit \(MSG_CTRUNC, room for 2\): the 2 that arrived are closed, the kernel dropped the rest$/,
      ),
    });
    await noLeak(before);
  });

  it('a sender that announces more fds than maxFds gets nothing', async () => {
    const before = await settledCount();
    const p = sockPath();
    const got = receiveFds(p, { maxFds: 4 });
    peer('send-late', p, '5');
    await expect(got).rejects.toMatchObject({
      code: 'ERR_FDS_LIMIT',
      message: expect.stringMatching(/sends 5 fds, more than the 4 this receiver accepts$/),
    });
    await noLeak(before);
  });

  it('more than 253 fds by default is refused the same way (maxFds defaults to SCM_MAX_FD)', async () => {
    const before = await settledCount();
    const p = sockPath();
    const got = receiveFds(p);
    peer('send', p, 'seqpacket', '254', '');
    await expect(got).rejects.toMatchObject({
      code: 'ERR_FDS_LIMIT',
      message: expect.stringMatching(/sends 254 fds, more than the 253/),
    });
    await noLeak(before);
  });

  it('the peer gone mid-bundle: one line with how far it got, the fds that came are closed', async () => {
    const before = await settledCount();
    const p = sockPath();
    const got = receiveFds(p);
    peer('send-short', p, '5', '3');
    await expect(got).rejects.toMatchObject({
      code: 'ERR_FDS_PEER_GONE',
      message: expect.stringMatching(/^the sender \(pid \d+\) on \S+ closed the connection after 3 of 5 fds$/),
    });
    await noLeak(before);
  });

  it(
    'a name that is not valid UTF-8 (bytes 77 ff 62) ' + 'is refused with ERR_FDS_NAMES, both fds that came are closed',
    async () => {
      const before = await settledCount();
      const p = sockPath();
      const got = receiveFds(p);
      peer('send-badname', p);
      await expect(got).rejects.toMatchObject({
        code: 'ERR_FDS_NAMES',
        message: expect.stringMatching(
          /^the sender \(pid \d+\) on \S+ sent the fd name 'w\\xffb', which contains a character that is not printable ASCII$/,
        ),
      });
      await noLeak(before);
    },
  );

  it('nobody sending in time is a timeout naming the path, and the socket file is removed', async () => {
    const p = sockPath();
    await expect(receiveFds(p, { timeout: 100 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      message: `nobody sent fds to ${p} in time`,
    });
    expect(() => statSync(p)).toThrow(/ENOENT/);
  });

  it('refuses a datagram socket with one line', async () => {
    const [a, b] = sys.socketpair('dgram');
    await expect(receiveFds(a)).rejects.toThrow(
      `fd ${a} is not a UNIX stream or seqpacket socket: fds pass only over one (unix(7))`,
    );
    closeAll([a, b]);
  });
});

describe('sendFds to a Python receiver (socket.recv_fds)', () => {
  for (const type of ['seqpacket', 'stream'] as const) {
    it(`sends fds, names and the message to a ${type} listener (seqpacket is tried first)`, async () => {
      const p = sockPath();
      const py = peer('recv', p, type, '253');
      await py.json();
      const { fd, content } = fileWith('to python');
      await sendFds(p, [fd, { fd }], { names: ['a', 'b'], message: 'from node' });
      expect(await py.json()).toEqual({
        count: 2,
        names: ['a', 'b'],
        message: 'from node',
        contents: [content],
        inodes: [statSync(`/proc/self/fd/${fd}`).ino],
      });
      sys.closeFd(fd);
    });
  }

  it('sends 254 fds as two messages (253 + 1), which Python reassembles', async () => {
    const p = sockPath();
    const py = peer('recv', p, 'seqpacket', '253');
    await py.json();
    const { fd, content } = fileWith('many');
    await sendFds(p, Array(254).fill(fd), { names: Array.from({ length: 254 }, (_, i) => `n${i}`) });
    const got = await py.json();
    expect(got).toMatchObject({ count: 254, contents: [content] });
    expect(got.names[253]).toBe('n253');
    sys.closeFd(fd);
  });

  it('on a connected net.Socket both ways: Python echoes the bundle back', async () => {
    const before = await settledCount();
    const p = sockPath();
    const py = peer('echo', p);
    const { pid } = await py.json();
    const conn = net.connect(p);
    await new Promise((r) => conn.once('connect', r));
    const { fd, content } = fileWith('echo');
    await sendFds(conn, [fd, fd], { names: ['x', 'y'], message: 'ping' });
    const b = await receiveFds(conn);
    expect(b).toMatchObject({ names: ['y', 'x'], peer: { pid } });
    expect(b.message.toString()).toBe('echo:ping');
    expect(b.fds.map(contentOf)).toEqual([content, content]);
    closeAll([...b.fds, fd]);
    conn.destroy();
    await noLeak(before);
  });

  it('names what failed: no such socket, a closed fd, a peer that hung up', async () => {
    const missing = path.join(dir, 'nobody.sock');
    await expect(sendFds(missing, [0])).rejects.toMatchObject({
      code: 'ENOENT',
      message: `can't send fds to ${missing}: no such file or directory`,
    });
    const { fd } = fileWith('x');
    sys.closeFd(fd);
    await expect(sendFds(missing, [fd])).rejects.toMatchObject({
      code: 'EBADF',
      message: `can't send fd ${fd}: it is not open`,
    });
    const [a, b] = sys.socketpair('seqpacket');
    sys.closeFd(b);
    await expect(sendFds(a, [0])).rejects.toMatchObject({
      code: 'ERR_FDS_PEER_GONE',
      message: `fd ${a} closed the connection before taking the fds`,
    });
    sys.closeFd(a);
  });
});

/** A file with known content, open read-only: its fd and content. */
function fileWith(tag: string): { fd: number; content: string } {
  const content = `${tag} ${process.pid} ${n}`;
  const file = path.join(dir, `content-${n++}`);
  writeFileSync(file, content);
  return { fd: openSync(file, 'r'), content };
}
