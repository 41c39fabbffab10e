// `npm start` runs examples/demo.js: sockact binds a port, starts examples/hello with it, and the
// demo makes a first request and says where to point curl. PORT=0 so runs never collide.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT, exchange, hostPort, run } from '../_support/launcher.js';

describe('npm start (examples/demo.js)', () => {
  it('serves hello through sockact, reports the URL, and stops on SIGTERM', async () => {
    const r = run(process.execPath, [join(ROOT, 'examples', 'demo.js')], { env: { ...process.env, PORT: '0' } });
    try {
      const answered = await r.waitFor('stdout', /demo: (http:\/\/\S+) answered 200: hello from pid (\d+)/);
      await r.waitFor('stdout', /point a browser or curl at http:\/\/127\.0\.0\.1:\d+\//);
      const url = new URL(answered[1]!);
      // The URL it printed really serves, and from the same app process.
      const body = await exchange(hostPort(url.host), 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(body).toContain(`hello from pid ${answered[2]}`);
      expect(r.stderr).toMatch(/sockact: listening on 127\.0\.0\.1:\d+ as fd 3/);
    } finally {
      r.child.kill('SIGTERM');
    }
    const { code, signal } = await r.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });
});
