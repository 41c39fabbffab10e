import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as sys from '../../src/sys/index.js';

describe('poll', () => {
  it('pollSync reports what is ready, and nothing on a zero timeout', () => {
    const [r, w] = sys.pipe(sys.O_CLOEXEC);
    expect(sys.pollSync([r], 0)).toEqual([]);
    sys.writeFd(w, Buffer.from('x'));
    expect(sys.pollSync([r], 0)).toEqual([{ fd: r, revents: sys.POLLIN }]);
    sys.closeFd(r);
    sys.closeFd(w);
  });

  it('pollSync keeps waiting when a signal with a handler interrupts poll() (EINTR)', () => {
    // Any signal Node has a listener for interrupts a blocking poll(): SIGWINCH on a terminal,
    // SIGTERM in an app that handles it. SIGWINCH is harmless if one arrives after the listener goes.
    const onWinch = () => {};
    process.on('SIGWINCH', onWinch);
    const [r, w] = sys.pipe(sys.O_CLOEXEC);
    try {
      // The child signals this process while it is parked in poll(), then makes the pipe readable.
      spawn('sh', ['-c', `for i in 1 2 3 4 5; do sleep 0.05; kill -WINCH ${process.pid}; done; printf x >&3`], {
        stdio: ['ignore', 'ignore', 'inherit', w],
      });
      sys.closeFd(w);
      const got = sys.pollSync([r], 20_000);
      expect(got.map((g) => [g.fd, g.revents & sys.POLLIN])).toEqual([[r, sys.POLLIN]]);
    } finally {
      sys.closeFd(r);
      process.off('SIGWINCH', onWinch);
    }
  });

  it('pollAsync waits on the threadpool while the event loop keeps running, and sees POLLHUP', async () => {
    const [r, w] = sys.pipe(sys.O_CLOEXEC);
    const waiting = sys.pollAsync([r], 10_000);
    // The loop is free: this timer runs while poll() is parked, and closing the write end wakes it.
    await new Promise((resolve) => setTimeout(resolve, 10));
    sys.closeFd(w);
    const got = await waiting;
    expect(got).toHaveLength(1);
    expect(got[0]!.revents & sys.POLLHUP).toBe(sys.POLLHUP);
    sys.closeFd(r);
  });

  it('pollAsync resolves empty on timeout', async () => {
    const [r, w] = sys.pipe(sys.O_CLOEXEC);
    expect(await sys.pollAsync([r], 20)).toEqual([]);
    sys.closeFd(r);
    sys.closeFd(w);
  });

  it('reports POLLNVAL for a closed fd', () => {
    const [r, w] = sys.pipe(sys.O_CLOEXEC);
    sys.closeFd(r);
    sys.closeFd(w);
    expect(sys.pollSync([r], 0)).toEqual([{ fd: r, revents: sys.POLLNVAL }]);
  });
});
