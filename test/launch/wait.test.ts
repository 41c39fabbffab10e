// The launcher's waits share the process's one poll loop (sys/loop.ts): accept mode, the --wrapper
// hand-off and the wait for the first connection park one poll() between them, not one each.
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runAccept } from '../../src/launch/accept.js';
import { bindAll, closeSockets, type BoundSocket } from '../../src/launch/bind.js';
import { serveHandoff } from '../../src/launch/handoff.js';
import { waitForActivity } from '../../src/launch/wait.js';
import { parseListen } from '../../src/protocol/address.js';
import { exchange, PYTHON, run } from '../_support/launcher.js';

const open: BoundSocket[] = [];
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  closeSockets(open.splice(0));
});

function listener(text = '127.0.0.1:0'): { socket: BoundSocket; port: number } {
  const [socket] = bindAll([parseListen(text)]);
  open.push(socket!);
  return { socket: socket!, port: (socket!.local as { port: number }).port };
}

/** poll(2) and ppoll(2) numbers per architecture (asm/unistd.h): glibc's poll() makes one of them. */
const POLL_SYSCALLS: Record<string, number[]> = { x64: [7, 271], arm64: [73], ia32: [168, 309], arm: [168, 336] };

/** How many threads of this process are blocked in poll() now (/proc/self/task/TID/syscall, proc(5)). */
function threadsInPoll(): number {
  const numbers = POLL_SYSCALLS[process.arch] ?? [];
  return readdirSync('/proc/self/task').filter((tid) => {
    try {
      return numbers.includes(Number(readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8').split(' ')[0]));
    } catch {
      return false; // the thread ended meanwhile
    }
  }).length;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('waitForActivity', () => {
  it('resolves with the fds that have a connection waiting, without taking it', async () => {
    const a = listener();
    const b = listener();
    const waiting = waitForActivity([a.socket.fd, b.socket.fd]);
    const client = connect({ host: '127.0.0.1', port: b.port });
    cleanups.push(() => void client.destroy());
    expect(await waiting).toEqual([b.socket.fd]);
    // Still in the backlog for the program: a second wait sees it at once.
    expect(await waitForActivity([a.socket.fd, b.socket.fd])).toEqual([b.socket.fd]);
  });

  it(
    'accept mode, the --wrapper hand-off and a wait for ' + 'the first connection park one poll() between them',
    async () => {
      expect(POLL_SYSCALLS[process.arch]).toBeDefined();
      const before = threadsInPoll();
      const acc = listener();
      const server = runAccept({ sockets: [acc.socket], program: 'cat', inetd: true });
      cleanups.push(async () => {
        server.stop();
        await server.done;
      });
      const handoff = serveHandoff({ fds: [acc.socket.fd], names: ['web'], root: () => 1 << 22 });
      cleanups.push(() => handoff.close());
      const idle = listener();
      const waiting = waitForActivity([idle.socket.fd]);

      // Each of the three used to park its own poll() on libuv's 4-thread pool.
      await sleep(100);
      const counts: number[] = [];
      for (let i = 0; i < 5; i++, await sleep(20)) counts.push(threadsInPoll() - before);
      expect(counts).toEqual([1, 1, 1, 1, 1]);

      // And every one of them is still served by that one poll().
      expect(await exchange({ host: '127.0.0.1', port: acc.port }, 'through cat\n')).toBe('through cat\n');
      const peer = run(PYTHON, [join(import.meta.dirname, 'fixtures/seqpacket-recv.py')], {
        env: { ...process.env, P: handoff.path },
      });
      expect((await peer.waitFor('stdout', /not the program/))[0]).toBe('not the program');
      const client = connect({ host: '127.0.0.1', port: idle.port });
      cleanups.push(() => void client.destroy());
      expect(await waiting).toEqual([idle.socket.fd]);
    },
  );
});
