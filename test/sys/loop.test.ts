import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as sys from '../../src/sys/index.js';
import { PollLoop } from '../../src/sys/loop.js';

/** Open fds with what they point to ('7 pipe:[123]'); the directory listing's own fd is left out. */
function openFds(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [`${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`];
    } catch {
      return [];
    }
  });
}

describe('PollLoop', () => {
  it('calls back for each ready fd, with one parked poll for the whole set', async () => {
    const loop = new PollLoop();
    const a = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
    const b = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
    const seen: string[] = [];
    const watches: { close(): void }[] = [];
    const buf = Buffer.alloc(16);
    const done = new Promise<void>((resolve) => {
      const on = (name: string, fd: number) => () => {
        sys.readFd(fd, buf);
        seen.push(name);
        if (seen.length === 2) resolve();
      };
      watches.push(loop.watch(a[0], on('a', a[0])), loop.watch(b[0], on('b', b[0])));
    });
    sys.writeFd(b[1], Buffer.from('x'));
    await new Promise((r) => setTimeout(r, 20));
    sys.writeFd(a[1], Buffer.from('x'));
    await done;
    expect(seen).toEqual(['b', 'a']);
    // Unwatch before closing: a fd closed under a parked poll() may be reused by the next open.
    for (const w of watches) w.close();
    for (const fd of [...a, ...b]) sys.closeFd(fd);
  });

  it('a watch added while poll() is parked is waited on at once, and pause/resume/close take effect', async () => {
    const loop = new PollLoop();
    const idle = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
    const idleWatch = loop.watch(idle[0], () => {});
    await new Promise((r) => setTimeout(r, 20)); // poll() is now parked on `idle` alone
    const p = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
    let calls = 0;
    const w = loop.watch(p[0], () => {
      calls++;
      w.pause(); // level-triggered: without consuming or pausing it would be called again at once
    });
    sys.writeFd(p[1], Buffer.from('x'));
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1); // paused: not called again though still readable
    w.resume();
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(2);
    w.close();
    w.resume(); // a closed watch stays closed
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(2);
    expect(loop.size).toBe(1);
    idleWatch.close();
    for (const fd of [...idle, ...p]) sys.closeFd(fd);
  });

  it('keeps no fd, no parked call and no reference to the event loop once nothing is watched', async () => {
    const loop = new PollLoop();
    const p = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
    const before = openFds();
    const w = loop.watch(p[0], () => {});
    await new Promise((r) => setTimeout(r, 20));
    const during = openFds();
    expect(during.filter((fd) => !before.includes(fd))).toMatchObject([
      expect.stringContaining('pipe:'),
      expect.stringContaining('pipe:'),
    ]); // the loop's wake pipe
    w.close();
    await new Promise((r) => setTimeout(r, 20));
    expect(openFds().filter((fd) => !before.includes(fd))).toEqual([]);
    expect(loop.size).toBe(0);
    sys.closeFd(p[0]);
    sys.closeFd(p[1]);
  });

  it(
    'a wake-up takes its one byte and builds no error: ' + 'set changes while parked leave the wake pipe empty',
    async () => {
      // A supervisor changes the set a few times per reload, thousands of times a run: reading the
      // wake pipe on to EAGAIN built an Error (and Node's errno map) each time, a third of
      // sockact's garbage per reload (BENCHMARKS.md, Supervisor, Leaks).
      const loop = new PollLoop();
      const p = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
      const before = openFds();
      const keep = loop.watch(p[0], () => {});
      await new Promise((r) => setTimeout(r, 20));
      const wake = openFds()
        .filter((fd) => !before.includes(fd))
        .map((fd) => Number(fd.split(' ')[0]))
        .sort((a, b) => a - b)[0]!; // the read end, made first by pipe2()
      const RealError = globalThis.Error;
      let built = 0;
      globalThis.Error = class extends RealError {
        constructor(...args: ConstructorParameters<typeof Error>) {
          super(...args);
          built++;
        }
      } as ErrorConstructor;
      try {
        for (let i = 0; i < 50; i++) {
          const q = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
          const w = loop.watch(q[0], () => {}); // wakes the parked poll()
          await new Promise((r) => setTimeout(r, 2));
          w.close();
          await new Promise((r) => setTimeout(r, 2));
          for (const fd of q) sys.closeFd(fd);
        }
      } finally {
        globalThis.Error = RealError;
      }
      expect(built).toBe(0);
      expect(() => sys.readFd(wake, Buffer.alloc(8))).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
      keep.close();
      for (const fd of p) sys.closeFd(fd);
    },
  );
});

describe('PollLoop: events and failures', () => {
  it('polls each fd for its own events: a readable fd watched for POLLOUT does not end every poll()', async () => {
    const loop = new PollLoop();
    const p = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
    sys.writeFd(p[1], Buffer.from('x')); // the read end is readable, and never writable
    let calls = 0;
    const w = loop.watch(p[0], () => calls++, sys.POLLOUT);
    await new Promise((r) => setTimeout(r, 100));
    // One poll(), still parked. Polled for the union (POLLIN | POLLOUT), it would return at once, forever.
    expect(loop.polls).toBe(1);
    expect(calls).toBe(0);
    w.close();
    for (const fd of p) sys.closeFd(fd);
  });

  it(
    'a poll() that fails for good closes the watches it waited on and tells each owner; ' + 'later watches are served',
    async () => {
      const loop = new PollLoop();
      const p = sys.pipe(sys.O_CLOEXEC | sys.O_NONBLOCK);
      const errors: unknown[] = [];
      const global: unknown[] = [];
      loop.onError((err) => global.push(err));
      // A real failure: more fds in the set than RLIMIT_NOFILE allows (poll(2): EINVAL). The soft
      // limit stays above every fd open now, so nothing else is refused meanwhile.
      const limits = readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+)\s+(\d+)/m)!;
      const soft = Math.max(...readdirSync('/proc/self/fd').map(Number)) + 32;
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${soft}:${limits[2]}`]);
      try {
        const failed = new Promise<void>((resolve) => {
          Array.from({ length: soft }, () =>
            loop.watch(
              p[0],
              () => {},
              sys.POLLIN,
              (err) => errors.push(err) === soft && resolve(),
            ),
          );
        });
        await failed;
      } finally {
        execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${limits[1]}:${limits[2]}`]);
      }
      expect(errors).toHaveLength(soft);
      expect(errors[0]).toMatchObject({ code: 'EINVAL', syscall: 'poll' });
      expect(global).toEqual([errors[0]]);
      expect(loop.size).toBe(0);
      const polls = loop.polls;
      await new Promise((r) => setTimeout(r, 50));
      expect(loop.polls).toBe(polls); // no retry loop: nothing is left to poll
      // The loop itself goes on.
      const got = new Promise<number>((resolve) => {
        const w = loop.watch(p[0], (revents) => {
          w.close();
          resolve(revents);
        });
      });
      sys.writeFd(p[1], Buffer.from('x'));
      expect(await got).toBe(sys.POLLIN);
      for (const fd of p) sys.closeFd(fd);
    },
  );
});
