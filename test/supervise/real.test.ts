import { describe, expect, it } from 'vitest';
import { NotifyReceiver } from '../../src/supervise/notify-receiver.js';
import { RealSeam } from '../../src/supervise/real.js';
import type { ExitStatus } from '../../src/supervise/seam.js';

describe('RealSeam', () => {
  it(
    'calls afterExit once for each child that ended, ' +
      "right after its status was passed on (the sockact command's memory check)",
    async () => {
      const receiver = new NotifyReceiver();
      const calls: string[] = [];
      const seam = new RealSeam({
        launch: { program: '/bin/sh', args: ['-c', 'exit 3'], fds: [] },
        receiver,
        workers: 1,
        afterExit: () => calls.push('afterExit'),
      });
      try {
        for (let generation = 1; generation <= 3; generation++) {
          await new Promise<void>((done) => {
            seam.spawn(
              { generation, worker: 0, env: {} },
              {
                notify() {},
                gone() {
                  calls.push('gone');
                },
                exit(status: ExitStatus) {
                  calls.push(`exit ${status.code}`);
                  setImmediate(done); // afterExit, if it comes, comes before this
                },
              },
            );
          });
        }
      } finally {
        receiver.close();
      }
      expect(calls).toEqual(['exit 3', 'afterExit', 'exit 3', 'afterExit', 'exit 3', 'afterExit']);
    },
  );

  it('a child that leaves a helper in its group is reported gone at once, ended once the group is empty', async () => {
    const receiver = new NotifyReceiver();
    const calls: string[] = [];
    const lines: string[] = [];
    const seam = new RealSeam({
      // The helper would outlive the test; the group's SIGTERM ends it.
      launch: { program: '/bin/sh', args: ['-c', 'sleep 30 & exit 4'], fds: [] },
      receiver,
      workers: 1,
      leftovers: { signal: 'SIGTERM', timeoutMs: 10_000, log: (l) => lines.push(l) },
    });
    try {
      await new Promise<void>((done) => {
        seam.spawn(
          { generation: 2, worker: 0, env: {} },
          {
            notify() {},
            gone(status) {
              calls.push(`gone ${status.code}`);
            },
            exit(status) {
              calls.push(`exit ${status.code}`);
              done();
            },
          },
        );
      });
    } finally {
      receiver.close();
    }
    expect(calls).toEqual(['gone 4', 'exit 4']);
    const gone = /^pid \d+ \(generation 2\) is gone, but what it started is still running: sending SIGTERM/;
    expect(lines).toEqual([expect.stringMatching(gone)]);
  });
});
