// --daemon, --pid-file, --log-file with real processes: the command returns once the daemon
// serves (a request made right after it returns is answered), the daemon is detached as daemon(7)
// asks (session leader, no controlling terminal, cwd /, umask 022), the pid file comes and goes
// with it, a second start is refused, and a start that fails fails the command with the reason.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { perTest, ROOT, SOCKACT } from '../_support/launcher.js';

const APP = join(ROOT, 'test/supervise/fixtures/app.mjs');
const { defer, dir } = perTest();

/** Run the sockact command to its end (it returns once the daemon serves or has failed). */
function command(args: string[], cwd?: string): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [SOCKACT, ...args], { encoding: 'utf8', cwd, timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kill the daemon after the test, whatever happened. */
function reap(pid: number): void {
  defer(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
}

async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 400 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
  expect(alive(pid)).toBe(false);
}

function get(target: { port: number } | { socketPath: string }): Promise<string> {
  return new Promise((res, rej) => {
    const opts = 'port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath };
    http
      .get({ ...opts, path: '/', agent: false }, (r) => {
        let body = '';
        r.setEncoding('utf8').on('data', (d: string) => (body += d));
        r.on('end', () => res(body));
      })
      .on('error', rej);
  });
}

/** A port that is free now (bound and closed again). */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** /proc/PID/stat fields after the command name: state is [0], session [3], tty_nr [4]. */
function stat(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

describe('sockact --daemon', () => {
  it(
    'returns once it serves, detached (own session, no tty, ' +
      'cwd /, umask 022); the pid file lives as long as it does',
    async () => {
      const d = dir();
      const pidFile = join(d, 'sockact.pid');
      const logFile = join(d, 'sockact.log');
      const port = await freePort();
      const r = command([
        '--daemon',
        '--pid-file',
        pidFile,
        '--log-file',
        logFile,
        '-l',
        `127.0.0.1:${port}`,
        '--',
        process.execPath,
        APP,
      ]);
      expect(r.stderr).toMatch(/^sockact: running in the background as pid \d+, ready in \d+ ms\n$/);
      expect(r.code).toBe(0);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      reap(pid);
      expect(r.stderr).toContain(`as pid ${pid},`);
      // Served at once: no retry, the first request after the command returned is answered.
      const body = await get({ port });
      const served = Number(/^pid (\d+) worker 0\n$/.exec(body)?.[1]);
      expect(Number(stat(served)[1])).toBe(pid); // by the daemon's child (ppid)

      const [, , , session, tty] = stat(pid);
      expect(Number(session)).toBe(pid);
      expect(Number(tty)).toBe(0);
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe('/');
      expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Umask:\s+0022$/m);
      // No terminal or pipe of the caller held: stdin is /dev/null, stdout and stderr the log.
      expect(readlinkSync(`/proc/${pid}/fd/0`)).toBe('/dev/null');
      expect(readlinkSync(`/proc/${pid}/fd/1`)).toBe(logFile);
      expect(readlinkSync(`/proc/${pid}/fd/2`)).toBe(logFile);

      process.kill(pid, 'SIGTERM');
      await gone(pid);
      expect(existsSync(pidFile)).toBe(false);
      const log = readFileSync(logFile, 'utf8');
      expect(log).toContain(`sockact: listening on 127.0.0.1:${port} as fd 3`);
      expect(log).toContain(`app: pid ${served} worker 0 up`); // the program's output
      expect(log).toMatch(/sockact: stopping/);
    },
  );

  it('refuses a second start while the pid file names a running sockact, and replaces a stale one', async () => {
    const d = dir();
    const pidFile = join(d, 'sockact.pid');
    // A stale file: a pid that has exited.
    const dead = spawnSync('true').pid!;
    writeFileSync(pidFile, `${dead}\n`);
    const first = command(['--daemon', '--pid-file', pidFile, '-l', '127.0.0.1:0', '--', process.execPath, APP]);
    expect(first.code).toBe(0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    reap(pid);
    expect(pid).not.toBe(dead);
    expect(alive(pid)).toBe(true);

    const second = command(['--daemon', '--pid-file', pidFile, '-l', '127.0.0.1:0', '--', process.execPath, APP]);
    expect(second.stderr).toBe(`sockact: sockact is already running as pid ${pid} (--pid-file ${pidFile})\n`);
    expect(second.code).toBe(1);
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(pid);

    // A live process that is not sockact (a recycled pid) does not block a start either.
    process.kill(pid, 'SIGTERM');
    await gone(pid);
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    defer(() => other.kill('SIGKILL'));
    writeFileSync(pidFile, `${other.pid}\n`);
    const third = command(['--daemon', '--pid-file', pidFile, '-l', '127.0.0.1:0', '--', process.execPath, APP]);
    expect(third.code).toBe(0);
    const pid3 = Number(readFileSync(pidFile, 'utf8'));
    reap(pid3);
    expect(pid3).not.toBe(other.pid);
  });

  it(
    'resolves relative paths (program, -l path, ' + 'pid and log files) against the directory it was started in',
    async () => {
      const d = dir();
      writeFileSync(join(d, 'run.sh'), `#!/bin/sh\nexec '${process.execPath}' '${APP}'\n`);
      chmodSync(join(d, 'run.sh'), 0o755);
      const r = command(
        ['--daemon', '--pid-file', 'p.pid', '--log-file', 'l.log', '-l', './app.sock', '--', './run.sh'],
        d,
      );
      expect(r.code).toBe(0);
      const pid = Number(readFileSync(join(d, 'p.pid'), 'utf8'));
      reap(pid);
      expect(await get({ socketPath: join(d, 'app.sock') })).toMatch(/^pid \d+ worker 0\n$/);
      expect(readFileSync(join(d, 'l.log'), 'utf8')).toContain(`started ${d}/run.sh as pid`);
      process.kill(pid, 'SIGTERM');
      await gone(pid);
      expect(existsSync(join(d, 'p.pid'))).toBe(false);
    },
  );

  it('fails with the reason, in one line, when the program exits at once (--restart no)', () => {
    const d = dir();
    const r = command([
      '--daemon',
      '--pid-file',
      join(d, 'p.pid'),
      '--restart',
      'no',
      '-l',
      '127.0.0.1:0',
      '--',
      'sh',
      '-c',
      'exit 1',
    ]);
    expect(r.stderr).toMatch(
      /^sockact: the daemon exited with code 1 before it was ready \(pid \d+ exited with code 1\)\n$/,
    );
    expect(r.code).toBe(1);
    expect(existsSync(join(d, 'p.pid'))).toBe(false);
  });

  it('fails with the reason when the port is taken, and with 127 for a missing program', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    defer(() => taken.close());
    const port = (taken.address() as { port: number }).port;
    const r = command(['--daemon', '-l', `127.0.0.1:${port}`, '--', process.execPath, APP]);
    expect(r.stderr).toBe(`sockact: can't listen on 127.0.0.1:${port}: address already in use\n`);
    expect(r.code).toBe(1);

    const missing = command(['--daemon', '-l', '127.0.0.1:0', '--', 'no-such-program-sockact']);
    expect(missing.stderr).toBe('sockact: no-such-program-sockact: command not found\n');
    expect(missing.code).toBe(127);
  });

  it('fails when the program crash-loops and the supervisor gives up', () => {
    const r = command([
      '--daemon',
      '--restart',
      'on-failure',
      '--restart-delay',
      '10ms',
      '-l',
      '127.0.0.1:0',
      '--',
      'sh',
      '-c',
      'exit 3',
    ]);
    expect(r.stderr).toMatch(/^sockact: giving up: 6 restarts within 10 s; the last one exited with code 3[^\n]*\n$/);
    expect(r.code).not.toBe(0);
  });

  it('refuses --log-file without --daemon, and a log file it cannot open', () => {
    expect(command(['--log-file', 'x.log', '-l', '0', 'true'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^sockact: --log-file applies to --daemon only/),
    });
    const r = command(['--daemon', '--log-file', '/nonexistent-dir/x.log', '-l', '127.0.0.1:0', 'true']);
    expect(r).toEqual({
      code: 1,
      stderr: "sockact: can't open --log-file /nonexistent-dir/x.log: no such file or directory\n",
    });
  });
});

describe('sockact --pid-file (in the foreground)', () => {
  async function started(args: string[]) {
    const d = dir();
    const pidFile = join(d, 'p.pid');
    const child = spawn(process.execPath, [SOCKACT, '-q', '--pid-file', pidFile, ...args], { stdio: 'ignore' });
    defer(() => child.kill('SIGKILL'));
    const ended = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    for (let i = 0; i < 400 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 25));
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(child.pid);
    return { child, pidFile, ended };
  }

  it('is written once the program serves and removed when sockact exits', async () => {
    const port = await freePort();
    const { child, pidFile, ended } = await started(['-l', `127.0.0.1:${port}`, '--', process.execPath, APP]);
    expect(await get({ port })).toMatch(/^pid \d+ worker 0\n$/);
    child.kill('SIGTERM');
    expect(await ended).toEqual({ code: 0, signal: null }); // the app drains and exits 0
    expect(existsSync(pidFile)).toBe(false);
  });

  it(
    'is removed also when sockact ends by the signal ' + 'that ended its program (which runs no exit handler)',
    async () => {
      const { child, pidFile, ended } = await started(['--ready', '100ms', '-l', '127.0.0.1:0', '--', 'sleep', '30']);
      child.kill('SIGTERM');
      expect(await ended).toEqual({ code: null, signal: 'SIGTERM' });
      expect(existsSync(pidFile)).toBe(false);
    },
  );
});
