// The examples run as real socket-activated children (fd 3 from us, exact LISTEN_PID).
// examples/hello is also run by systemd-socket-activate in socket-activate.test.ts.
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listener, ROOT, runActivated } from './_helpers.js';

function waitFor(child: ReturnType<typeof runActivated>, text: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (text.test(child.stderr())) {
        clearInterval(t);
        resolve();
      }
    }, 10);
    child.exited.then(() => {
      clearInterval(t);
      reject(new Error(`exited early: ${child.stderr()}`));
    });
  });
}

describe('examples', () => {
  it('examples/http2 serves h2c on the inherited socket', async () => {
    const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const port = (l.addr as { port: number }).port;
    const child = runActivated([l.fd], process.execPath, [path.join(ROOT, 'examples/http2/server.js')]);
    await waitFor(child, /http2: listening on 127\.0\.0\.1:\d+ \(socket-activated\)/);
    const client = http2.connect(`http://127.0.0.1:${port}`);
    const body = await new Promise<string>((resolve, reject) => {
      let b = '';
      client.request({ ':path': '/' }).setEncoding('utf8').on('data', (d) => (b += d)).on('end', () => resolve(b)).on('error', reject);
    });
    client.close();
    expect(body).toBe(`hello over HTTP/2 from pid ${child.proc.pid}\n`);
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });

  it('examples/https serves TLS on the inherited socket with a throwaway certificate', async () => {
    const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
    const port = (l.addr as { port: number }).port;
    const child = runActivated([l.fd], process.execPath, [path.join(ROOT, 'examples/https/server.js')]);
    await waitFor(child, /https: listening on 127\.0\.0\.1:\d+ \(socket-activated\)/);
    const body = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, rejectUnauthorized: false, agent: false }, (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (d) => (b += d)).on('end', () => resolve(b));
      }).on('error', reject);
    });
    expect(body).toBe(`hello over TLS from pid ${child.proc.pid}\n`);
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });
});
