// The supervisor at its edges, end to end (issue 14): real sockact, real children, real signals
// and requests on loopback. No timing is asserted: only who answered, how sockact ended and what
// it said.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { httpGet } from '../_support/http.js';
import {
  hostPort,
  listeningOn,
  perTest,
  PYTHON,
  ROOT,
  sockact,
  sockactOutcome,
  type Run,
} from '../_support/launcher.js';

const APP = join(ROOT, 'test/supervise/fixtures/app.mjs');
const { defer, dir } = perTest();

function start(args: string[], env: Record<string, string> = {}): Run {
  const r = sockact(args, { env: { ...process.env, ...env } });
  defer(() => r.child.kill('SIGKILL'));
  return r;
}

function count(text: string, re: RegExp): number {
  return text.split('\n').filter((l) => re.test(l)).length;
}

describe('supervisor end to end: stop and reload races', () => {
  it('SIGTERM then SIGHUP within 1 ms never ends sockact by SIGHUP', async () => {
    // The program dies of SIGTERM at once, so sockact ends a few ms later; SIGHUPs keep coming,
    // the first 0.5 ms after the SIGTERM and then every 50 µs for 300 ms, so that one lands as
    // sockact ends: its handler must still be there (before: exit by SIGHUP, every time here).
    const ends: unknown[] = [];
    for (const restart of ['no', 'always', 'no', 'always']) {
      const r = start(['-l', '127.0.0.1:0', '--restart', restart, '--ready', '10ms', '--', '/bin/sleep', '60']);
      await r.waitFor('stderr', /ready, generation 1/);
      r.child.kill('SIGTERM');
      const until = performance.now() + 300;
      for (let gap = 0.5; performance.now() < until; gap = 0.05) {
        const next = performance.now() + gap;
        while (performance.now() < next) {
          // spin: a timer cannot wait less than 1 ms
        }
        r.child.kill('SIGHUP'); // a zombie not yet reaped here still takes it, harmlessly
      }
      ends.push(await r.ended('SIGTERM'));
    }
    // A plain launch ends as its program did (by SIGTERM); a supervisor asked to stop, with 0.
    const plain = { code: null, signal: 'SIGTERM' };
    const supervised = { code: 0, signal: null };
    expect(ends).toEqual([plain, supervised, plain, supervised]);
  });

  it('a reload asked for while stopping is refused with one line, and `sockact reload` exits 1 with it', async () => {
    const name = `e2e-refused-${process.pid}`;
    const args = ['-l', '127.0.0.1:0', '--restart', 'always', '--stop-timeout', '2s', '--name', name];
    const r = start([...args, '--', process.execPath, APP], { IGNORE_TERM: '1' });
    await r.waitFor('stderr', /ready, generation 1/);
    r.child.kill('SIGTERM');
    await r.waitFor('stderr', /stopping: sending SIGTERM to 1 child/);
    const c = await sockactOutcome(['reload', '--name', name]);
    expect(c.code).toBe(1);
    expect(c.stderr).toBe('sockact: reload refused: sockact is stopping\n');
    r.child.kill('SIGHUP');
    expect(await r.ended('SIGTERM and the stop timeout')).toEqual({ code: 0, signal: null });
    expect(count(r.stderr, /^sockact: reload refused: sockact is stopping$/)).toBe(2); // one each
    expect(r.stderr).not.toMatch(/reloading/);
  });
});

describe('supervisor end to end: a stop while the old generation drains', () => {
  it('lets the draining generation answer its request in flight, within --stop-timeout', async () => {
    const r = start(
      ['-l', '127.0.0.1:0', '--restart', 'always', '--stop-timeout', '10s', '--', process.execPath, APP],
      {
        SLOW_MS: '1500',
      },
    );
    const { port } = hostPort(await listeningOn(r));
    await r.waitFor('stderr', /ready, generation 1/);
    const first = Number(/started \S+ \S+ as pid (\d+)/.exec(r.stderr)![1]);
    const slow = httpGet({ host: '127.0.0.1', port }, { path: '/slow' });
    await r.waitFor('stderr', new RegExp(`app: pid ${first} got a slow request`));
    r.child.kill('SIGHUP');
    await r.waitFor('stderr', /reloaded: generation 2/);
    r.child.kill('SIGTERM'); // generation 1 is still draining its request
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(`pid ${first} worker 0\n`);
    expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(r.stderr).not.toMatch(/SIGKILL/);
  });
});

describe('supervisor end to end: a new generation that leaves a helper behind', () => {
  it('is never ready under readiness auto: the reload fails and the old generation keeps serving', async () => {
    // Generation 1 serves without sd_notify (readiness auto sees it accept). Once `broken`
    // exists, the program is a shell that starts a helper deaf to SIGTERM and exits 0 at once.
    const broken = join(dir(), 'broken');
    const server = [
      'import os, socket',
      's = socket.socket(fileno=3)',
      'while True:',
      '    c, _ = s.accept(); c.recv(65536)',
      '    body = b"pid %d\\n" % os.getpid()',
      '    c.sendall(b"HTTP/1.1 200 OK\\r\\ncontent-length: ' +
        '%d\\r\\nconnection: close\\r\\n\\r\\n" % len(body) + body); c.close()',
    ].join('\n');
    const shell = `if [ -e "$0" ]; then (trap '' TERM; exec sleep 6) & exit 0; fi; exec "$1" -c "$2"`;
    const name = `e2e-helper-${process.pid}`;
    const args = ['-l', '127.0.0.1:0', '--ready', 'auto', '--stop-timeout', '5s', '--name', name];
    const r = start([...args, '--', '/bin/sh', '-c', shell, broken, PYTHON, server]);
    const { port } = hostPort(await listeningOn(r));
    await r.waitFor('stderr', /ready, generation 1/);
    const first = Number(/started .* as pid (\d+)/.exec(r.stderr)![1]);
    writeFileSync(broken, '');
    const c = await sockactOutcome(['reload', '--name', name]);
    expect(c.code).toBe(1);
    const failed = 'exited with code 0 before it was ready; generation 1 keeps serving';
    expect(c.stderr).toMatch(new RegExp(`^sockact: reload failed: pid \\d+ \\(generation 2\\) ${failed}\n$`));
    // Past readiness auto's fallback (3 s), the helper still running: nothing calls it ready.
    await new Promise((res) => setTimeout(res, 3500));
    expect(r.stderr).not.toMatch(/\(generation 2\) ready in/);
    expect((await httpGet({ host: '127.0.0.1', port })).body).toBe(`pid ${first}\n`);
    expect(r.stderr).toMatch(/\(generation 2\) is gone, but what it started is still running: sending SIGTERM/);
    r.child.kill('SIGTERM');
    await r.ended('SIGTERM', 15_000);
  }, 45_000);
});

describe('supervisor end to end: restarts', () => {
  it('--restart always: a program that exits 0 on its own comes back after --restart-delay each time', async () => {
    const r = start([
      '-l',
      '127.0.0.1:0',
      '--restart',
      'always',
      '--start-limit-burst',
      '20',
      '--',
      '/bin/sh',
      '-c',
      'sleep 0.2',
    ]);
    await r.waitFor('stderr', /(restarting it in .*\n[\s\S]*){5}/);
    r.child.kill('SIGTERM');
    await r.ended('SIGTERM');
    const delays = [...r.stderr.matchAll(/restarting it in (.*)/g)].map((m) => m[1]).slice(0, 5);
    expect(delays).toEqual(['100 ms', '100 ms', '100 ms', '100 ms', '100 ms']);
  });

  it('says "giving up" once', async () => {
    const r = start([
      '-l',
      '127.0.0.1:0',
      '--restart',
      'always',
      '--restart-delay',
      '10ms',
      '--',
      '/bin/sh',
      '-c',
      'exit 3',
    ]);
    expect(await r.ended('the start limit')).toEqual({ code: 3, signal: null });
    expect(count(r.stderr, /giving up/)).toBe(1);
  });
});
