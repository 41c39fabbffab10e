// `npm start` runs examples/demo.js: sockact supervises examples/hello while the demo sends a
// steady load, reloads three times and deploys one broken build that is rolled back. The demo's
// own last line counts what failed; this test holds it to zero, then stops it with Ctrl-C's signal.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, run } from '../_support/launcher.js';

describe('npm start (examples/demo.js)', () => {
  it(
    'reloads three times and rolls back a broken build ' + 'under load with 0 failed requests, then stops cleanly',
    async () => {
      const r = run(process.execPath, [join(ROOT, 'examples', 'demo.js')], { env: { ...process.env, PORT: '0' } });
      try {
        const last = await r.waitFor(
          'stdout',
          /demo: ([\d,]+) requests over (\d+) reloads and (\d+) rolled-back reload: (\d+) failed(.*)\n/,
        );
        expect(last.slice(2)).toEqual(['3', '1', '0', '']);
        expect(Number(last[1]!.replace(/,/g, ''))).toBeGreaterThan(0);
        expect(r.stdout).toMatch(
          /demo: rolled back: reload failed: pid \d+ \(generation 4\) exited with code 1 before it was ready; generation 3 keeps serving\n/,
        );
        expect(r.stdout.match(/demo: reload: generation \d ready in/g)).toHaveLength(3);
        const url = (await r.waitFor('stdout', /point a browser or curl at (\S+);/))[1]!;
        const body = await fetch(url).then((res) => res.text());
        expect(body).toMatch(/^hello from pid \d+\n$/);
        r.child.kill('SIGINT');
        expect(await r.exited).toEqual({ code: 0, signal: null });
        expect(r.stdout).toMatch(/demo: sockact ended \(exit 0\)\n$/);
      } finally {
        r.child.kill('SIGKILL');
      }
    },
  );
});
