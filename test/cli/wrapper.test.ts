import type { SpawnOptions } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exchange, hostPort, listeningOn, ROOT, sockact, tempDir } from '../_support/launcher.js';

/** An app that reads its sockets with sockact's listenFds(), prints them, and answers one request. */
const APP = join(ROOT, 'test/launch/fixtures/handoff-app.mjs');
const GET = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

/** The app's JSON line, the address sockact bound, and the hand-off socket it announced. */
async function started(args: string[], opts: SpawnOptions = {}) {
  const r = sockact(args, opts);
  const target = hostPort(await listeningOn(r));
  const offered = (await r.waitFor('stderr', /offering the sockets to the program's descendants at (\S+)\n/))[1]!;
  const line = JSON.parse((await r.waitFor('stdout', /^\{.*\}$/m))[0]);
  return { r, target, offered, line };
}

describe('sockact --wrapper', () => {
  it('hands the sockets to an app behind a shell that does not exec (LISTEN_PID is the shell)', async () => {
    const { r, target, offered, line } = await started([
      '--wrapper',
      '-l',
      '127.0.0.1:0,name=web',
      '--',
      'sh',
      '-c',
      `"${process.execPath}" "${APP}"; true`,
    ]);
    const shell = Number(/started sh .* as pid (\d+)/.exec(r.stderr)![1]);
    expect(line.pid).not.toBe(shell);
    expect(line.fds).toHaveLength(1);
    expect(line.fds[0]).toMatchObject({
      name: 'web',
      kind: 'socket',
      type: 'stream',
      listening: true,
      address: `127.0.0.1:${target.port}`,
    });
    expect(await exchange(target, GET)).toContain(`hello from pid ${line.pid}`);
    expect((await r.exited).code).toBe(0);
    // The private directory goes with the program.
    expect(existsSync(offered)).toBe(false);
  });

  it.runIf(process.getuid!() === 0)(
    'with --user, makes the directory where that user can reach it, and only that user',
    async () => {
      // sockact's own runtime directory is root's alone (as /run/user/0 is): nobody cannot enter it.
      const rootOnly = tempDir();
      try {
        chmodSync(rootOnly.dir, 0o700);
        const { r, target, offered, line } = await started(
          [
            '--wrapper',
            '--user',
            'nobody',
            '-l',
            '127.0.0.1:0,name=web',
            '--',
            'sh',
            '-c',
            `"${process.execPath}" "${APP}"; true`,
          ],
          {
            env: { ...process.env, XDG_RUNTIME_DIR: rootOnly.dir, TMPDIR: rootOnly.dir },
          },
        );
        expect(line.fds).toHaveLength(1);
        expect(line.fds[0]).toMatchObject({ name: 'web', listening: true, address: `127.0.0.1:${target.port}` });
        const d = statSync(dirname(offered));
        expect([d.uid, d.mode & 0o777]).toEqual([65534, 0o700]);
        expect(lstatSync(offered).uid).toBe(65534);
        expect(dirname(offered).startsWith(rootOnly.dir)).toBe(false);
        expect(await exchange(target, GET)).toContain(`hello from pid ${line.pid}`);
        expect((await r.exited).code).toBe(0);
      } finally {
        rootOnly.cleanup();
      }
    },
  );

  it('hands them to an app behind `npm start` (npm closes every inherited fd above 2)', async () => {
    const d = tempDir();
    try {
      writeFileSync(
        join(d.dir, 'package.json'),
        JSON.stringify({ name: 'behind-npm', private: true, scripts: { start: `"${process.execPath}" "${APP}"` } }),
      );
      const { r, target, line } = await started(['--wrapper', '-l', '127.0.0.1:0', '--', 'npm', 'start', '--silent'], {
        cwd: d.dir,
      });
      // No name given: the app reads "unknown", as from LISTEN_FDNAMES-less activation.
      expect(line.fds[0]).toMatchObject({ name: 'unknown', address: `127.0.0.1:${target.port}` });
      expect(await exchange(target, GET)).toContain(`hello from pid ${line.pid}`);
      expect((await r.exited).code).toBe(0);
    } finally {
      d.cleanup();
    }
  });
});
