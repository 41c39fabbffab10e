// "Each fd is adopted at most once": listenFds(), getListeners() and listen() called in any order
// in one real child share one reading of the environment, and a second adoption of a fd is a
// clear error, never a second wrapper around it.
import { describe, expect, it } from 'vitest';
import { listener, runApp } from './_helpers.js';

const adopted = (fd: number, name: string, by: string) => ({
  code: 'ERR_FD_ADOPTED',
  fd,
  fdName: name,
  message: `fd ${fd} ('${name}') is already adopted by ${by}`,
});

describe('adopting each fd at most once, in any order', () => {
  // [steps, outcome of each step, what the row proves]; two TCP listeners named a and b.
  const rows: [string, Record<string, unknown>[], string][] = [
    [
      'listenFds,listen,getListeners',
      [{ listenFds: [3, 4] }, { listen: 3 }, { getListeners: adopted(3, 'a', 'listen()') }],
      'describing adopts nothing; getListeners() refuses a fd listen() took',
    ],
    [
      'getListeners,listenFds,listen',
      [{ getListeners: [3, 4] }, { listenFds: [3, 4] }, { listen: adopted(3, 'a', 'getListeners()') }],
      'listenFds() after getListeners() still describes every fd; listen() refuses them',
    ],
    [
      'listen,listen,listen',
      [{ listen: 3 }, { listen: 4 }, { listen: adopted(3, 'a', 'listen()') }],
      'listen() takes the next free listener, then says none is left',
    ],
    [
      'getListeners,getListeners',
      [{ getListeners: [3, 4] }, { getListeners: adopted(3, 'a', 'getListeners()') }],
      'getListeners() twice is an error, not a second server on each fd',
    ],
    [
      'listen,getListeners,listenFds,listen',
      [{ listen: 3 }, { getListeners: adopted(3, 'a', 'listen()') }, { listenFds: [3, 4] }, { listen: 4 }],
      'a refused getListeners() claims nothing: fd 4 is still free for listen()',
    ],
  ];
  for (const [steps, expected, proves] of rows) {
    it(`${steps}: ${proves}`, async () => {
      const fds = [0, 1].map(() => listener({ family: 'inet', address: '127.0.0.1', port: 0 }).fd);
      const child = runApp(fds, 'order', [steps], { LISTEN_FDNAMES: 'a:b' });
      const got = await child.json();
      expect(await child.exited).toBe(0);
      expect(got.results).toHaveLength(expected.length);
      for (const [i, r] of (got.results as Record<string, unknown>[]).entries()) expect(r).toMatchObject(expected[i]!);
    });
  }
});
