import { pollLoop } from '../sys/loop.js';

/**
 * Wait until one of `fds` has a connection or a datagram waiting, without accepting or reading it:
 * the child started afterwards takes it from the socket (systemd-socket-activate without --now,
 * systemd's socket units). The wait is a watch on the process's one poll loop (sys/loop.ts), so
 * it parks no threadpool thread of its own and the event loop keeps handling signals meanwhile.
 * Resolves with the fds that are ready; rejects when poll() itself fails.
 */
export function waitForActivity(fds: readonly number[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const ready: number[] = [];
    const done = () => {
      for (const w of watches) w.close();
    };
    const onReady = (fd: number) => () => {
      // The loop calls back for every fd of one poll() in a row: answer once they are all in.
      if (ready.length === 0) {
        queueMicrotask(() => {
          done();
          resolve(ready);
        });
      }
      ready.push(fd);
    };
    const onError = (err: unknown) => {
      done();
      reject(err);
    };
    const loop = pollLoop();
    const watches = fds.map((fd) => loop.watch(fd, onReady(fd), undefined, onError));
  });
}
