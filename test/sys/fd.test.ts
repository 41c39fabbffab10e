import { execFileSync } from 'node:child_process';
import { openSync, readdirSync, readlinkSync, writeSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { accessMode } from '../../src/sys/fd.js';
import * as sys from '../../src/sys/index.js';
import { fdFlags } from '../_support/fdinfo.js';
import { fileTempDir } from '../_support/tmp.js';

const dir = fileTempDir();

describe('fileKind (fstat)', () => {
  it('tells sockets, FIFOs, files and char devices apart', () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fds = {
      socket: sys.socket('unix', 'dgram'),
      fifo: openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK),
      file: openSync(import.meta.filename, 'r'),
      'char-device': openSync('/dev/null', 'r'),
      directory: openSync(dir, 'r'),
    };
    for (const [kind, fd] of Object.entries(fds)) {
      expect(sys.fileKind(fd)).toBe(kind);
      sys.closeFd(fd);
    }
  });

  it('calls an anonymous inode (Node\'s own epoll fd) "other"', () => {
    const epoll = readdirSync('/proc/self/fd')
      .map(Number)
      .find((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[eventpoll]';
        } catch {
          return false;
        }
      });
    expect(epoll).toBeDefined();
    expect(sys.fileKind(epoll!)).toBe('other');
  });

  it('names a fd that is not open', () => {
    const [r, w] = sys.pipe(sys.O_CLOEXEC);
    sys.closeFd(r);
    sys.closeFd(w);
    expect(() => sys.fileKind(r)).toThrow(
      expect.objectContaining({ code: 'EBADF', fd: r, message: `fd ${r} is not open: bad file descriptor` }),
    );
  });
});

describe('fd flags', () => {
  it('sets and clears FD_CLOEXEC, and isCloexec reads it as the kernel reports it', () => {
    const [r, w] = sys.pipe(0);
    expect([sys.isCloexec(r), fdFlags(r).cloexec]).toEqual([false, false]);
    sys.setCloexec(r);
    expect([sys.isCloexec(r), fdFlags(r).cloexec]).toEqual([true, true]);
    sys.setCloexec(r, false);
    expect([sys.isCloexec(r), fdFlags(r).cloexec]).toEqual([false, false]);
    sys.closeFd(r);
    sys.closeFd(w);
  });

  it('accessMode reads O_ACCMODE', () => {
    const fifo = path.join(dir, 'fifo-mode');
    execFileSync('mkfifo', [fifo]);
    const rw = openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK);
    const ro = openSync(import.meta.filename, 'r');
    const wo = openSync(path.join(dir, 'out'), 'w');
    expect([accessMode(rw), accessMode(ro), accessMode(wo)]).toEqual(['read-write', 'read', 'write']);
    for (const fd of [rw, ro, wo]) sys.closeFd(fd);
  });

  it('closing a closed fd is EBADF, naming the fd', () => {
    const [r, w] = sys.pipe(sys.O_CLOEXEC);
    sys.closeFd(r);
    sys.closeFd(w);
    expect(() => sys.closeFd(r)).toThrow(
      expect.objectContaining({ code: 'EBADF', syscall: 'close', message: `close fd ${r}: bad file descriptor` }),
    );
  });
});

describe('growPipe (F_SETPIPE_SZ)', () => {
  it('gives a pipe the capacity asked for: a write that size fits without blocking', () => {
    const [r, w] = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
    expect(sys.growPipe(w, 1024 * 1024)).toBe(1024 * 1024);
    // 1 MiB goes in at once; a default pipe (64 KiB) would take 64 KiB and say EAGAIN.
    expect(writeSync(w, Buffer.alloc(1024 * 1024))).toBe(1024 * 1024);
    for (const fd of [r, w]) sys.closeFd(fd);
  });

  it('says undefined and leaves the pipe as it was when the kernel refuses (not a pipe)', () => {
    const fd = openSync(import.meta.filename, 'r');
    expect(sys.growPipe(fd, 1024 * 1024)).toBeUndefined();
    sys.closeFd(fd);
  });
});

describe('isNullDevice', () => {
  it('is true of /dev/null only: not of a pipe, a file, another character device or a closed fd', () => {
    const nul = openSync('/dev/null', 'w');
    const zero = openSync('/dev/zero', 'r');
    const file = openSync(import.meta.filename, 'r');
    const [r, w] = sys.pipe(sys.O_CLOEXEC);
    expect(sys.isNullDevice(nul)).toBe(true);
    expect([zero, file, r, w].map((fd) => sys.isNullDevice(fd))).toEqual([false, false, false, false]);
    for (const fd of [nul, zero, file, r, w]) sys.closeFd(fd);
    expect(sys.isNullDevice(nul)).toBe(false);
  });
});
