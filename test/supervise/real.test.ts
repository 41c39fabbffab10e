import { describe, expect, it } from 'vitest';
import { NotifyReceiver } from '../../src/supervise/notify-receiver.js';
import { RealSeam } from '../../src/supervise/real.js';
import type { ExitStatus } from '../../src/supervise/seam.js';

describe('RealSeam', () => {
  it("calls afterExit once for each child that ended, right after its status was passed on (the sockact command's memory check)", async () => {
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
  });
});
