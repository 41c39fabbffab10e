// TCP ports for tests. The rule: whoever serves binds port 0 itself (or is handed a socket bound
// in this process, at fd 3..), and the test reads the port back. Only a program that refuses port
// 0 (systemd-socket-activate: "Failed to parse socket address") is given a number, and then the
// number may be taken between our close and its bind: onFreePort retries, a bounded number of times.
import net from 'node:net';

/** A port on 127.0.0.1 that was free a moment ago. Not exported: see onFreePort. */
function portFreeNow(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** What `start` returns when the port it was given was taken by someone else in the meantime. */
export const PORT_TAKEN = Symbol('port taken');

/**
 * Start something on a port that was free a moment ago, for a program that cannot bind port 0:
 * `start(port)` resolves with its result, or with PORT_TAKEN (it saw EADDRINUSE), and is tried
 * again on a new port, at most `attempts` times; then the error says so.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T | typeof PORT_TAKEN>, attempts = 5): Promise<T> {
  const tried: number[] = [];
  while (tried.length < attempts) {
    const port = await portFreeNow();
    tried.push(port);
    const got = await start(port);
    if (got !== PORT_TAKEN) return got;
  }
  throw new Error(
    `no free port after ${attempts} attempts: ${tried.join(', ')} were each taken before the program bound them`,
  );
}
