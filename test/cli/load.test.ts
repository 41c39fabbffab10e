// End to end under load: examples/hello launched by sockact serves a bounded burst of requests
// over many concurrent connections, keep-alive and Connection: close, with no error and no
// truncated answer; then SIGTERM drains it and sockact ends with the app's clean exit.
// Loopback only; the burst is bounded in count (no timing is asserted).
import http from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostPort, listeningOn, ROOT, sockact } from '../_support/launcher.js';

const HELLO = join(ROOT, 'examples/hello/server.js');

async function burst(host: string, port: number, total: number, concurrency: number, keepAlive: boolean) {
  const agent = new http.Agent({ keepAlive, maxSockets: concurrency });
  const bodies = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.get(
          { host, port, path: '/', agent, headers: keepAlive ? {} : { connection: 'close' } },
          (res) => {
            let data = '';
            res.setEncoding('utf8').on('data', (d: string) => (data += d));
            res.on('end', () =>
              res.statusCode === 200 ? resolve(data) : reject(new Error(`status ${res.statusCode}`)),
            );
          },
        );
        req.on('error', reject);
      });
      bodies.set(body, (bodies.get(body) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return bodies;
}

describe('sockact under load', () => {
  for (const keepAlive of [true, false]) {
    it(
      `serves 2000 requests over 32 connections ` +
        `(${keepAlive ? 'keep-alive' : 'Connection: close'}) without an error`,
      async () => {
        const r = sockact(['-l', '127.0.0.1:0', '--', process.execPath, HELLO]);
        const { host, port } = hostPort(await listeningOn(r));
        const pid = Number((await r.waitFor('stderr', /started \S+ \S+ as pid (\d+)/))[1]);
        const bodies = await burst(host, port, 2000, 32, keepAlive);
        // Every answer complete, all from the one app process sockact started.
        expect([...bodies.entries()]).toEqual([[`hello from pid ${pid}\n`, 2000]]);
        r.child.kill('SIGTERM');
        expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
        expect(r.stderr).toContain(`pid ${pid} exited with code 0`);
      },
    );
  }
});
