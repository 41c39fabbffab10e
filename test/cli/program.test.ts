// What the program gets from sockact (issue 7, "The program gets what systemd-socket-activate would
// give it", "Never leave a program behind"), side by side with systemd-socket-activate 252.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { perTest, run, SOCKACT, sockact } from '../_support/launcher.js';

const { dir, defer } = perTest();

/** The environment `env -0` printed (not Python's: it adds LC_CTYPE when it coerces the locale). */
function envOf(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** Run PROGRAM under systemd-socket-activate on a UNIX socket, and connect once to start it. */
async function underSystemd(args: string[]): Promise<string> {
  const path = join(dir(), 'peer.sock');
  const r = run('systemd-socket-activate', ['-l', path, ...args]);
  defer(() => r.child.kill('SIGKILL'));
  await r.waitFor('stderr', /Listening on/);
  const c = connect({ path });
  c.on('error', () => {});
  defer(() => c.destroy());
  await r.exited;
  return r.stdout;
}

describe('the program gets what systemd-socket-activate gives it', () => {
  it(
    "gets exactly sockact's own environment, " +
      'names that are not shell names included, plus LISTEN_* (and no PWD added)',
    async () => {
      const own = {
        PATH: process.env.PATH!,
        'a-b': '1',
        'a.b': 'x y',
        '1X': "it's",
        KEEP: 'kept',
        NOTIFY_SOCKET: '/stale',
      };
      const r = sockact(['-q', '-l', '127.0.0.1:0', '--', 'env', '-0'], { env: own });
      expect((await r.exited).code).toBe(0);
      const env = envOf(r.stdout);
      const { NOTIFY_SOCKET: _, ...kept } = own;
      // The supervisor's own: this child's notify socket (never the stale one), its worker index and
      // generation, and where generations hand connections over (the notify socket's directory).
      expect(env.NOTIFY_SOCKET).toMatch(/\/sockact-notify-\w+\/\d+\.sock$/);
      expect(env).toEqual({
        ...kept,
        LISTEN_PID: expect.stringMatching(/^\d+$/),
        LISTEN_FDS: '1',
        NOTIFY_SOCKET: env.NOTIFY_SOCKET,
        SOCKACT_WORKER: '0',
        SOCKACT_GENERATION: '1',
        SOCKACT_MIGRATE_DIR: env.NOTIFY_SOCKET!.replace(/\/\d+\.sock$/, ''),
      });
    },
  );

  it(
    '--workers 2: each worker also gets UV_TCP_SINGLE_ACCEPT=1 (one accept per wake-up), ' +
      'unless -E or the environment set it; one worker does not',
    async () => {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, for sh
      const say = ['--', 'sh', '-c', 'echo "w$SOCKACT_WORKER ${UV_TCP_SINGLE_ACCEPT-unset}"'];
      const lines = async (args: string[], env?: NodeJS.ProcessEnv) => {
        const r = sockact(['-q', '-l', '127.0.0.1:0', ...args, ...say], env ? { env } : {});
        expect((await r.exited).code).toBe(0);
        return r.stdout
          .split('\n')
          .filter((l) => l !== '')
          .sort();
      };
      expect(await lines(['--workers', '2'])).toEqual(['w0 1', 'w1 1']);
      expect(await lines(['--workers', '2', '-E', 'UV_TCP_SINGLE_ACCEPT=0'])).toEqual(['w0 0', 'w1 0']);
      expect(await lines(['--workers', '2'], { PATH: process.env.PATH!, UV_TCP_SINGLE_ACCEPT: '' })).toEqual([
        'w0 ',
        'w1 ',
      ]);
      expect(await lines([])).toEqual(['w0 unset']);
    },
  );

  it('keeps PWD as sockact had it, even one that is not the current directory', async () => {
    const r = sockact(['-q', '-l', '127.0.0.1:0', '--', 'env', '-0'], {
      env: { PATH: process.env.PATH!, PWD: '/nonexistent' },
    });
    expect((await r.exited).code).toBe(0);
    expect(envOf(r.stdout).PWD).toBe('/nonexistent');
  });

  it('gets argv[0] as given (sh, not /usr/bin/sh), as under systemd-socket-activate', async () => {
    const argv0 = `tr '\\0' '\\n' </proc/$$/cmdline | head -n 1`;
    const peer = await underSystemd(['sh', '-c', argv0]);
    const r = sockact(['-q', '-l', '127.0.0.1:0', '--', 'sh', '-c', argv0]);
    expect((await r.exited).code).toBe(0);
    expect(peer).toBe('sh\n');
    expect(r.stdout).toBe(peer);
  });
});

describe('never leave a program behind', () => {
  it('the program gets SIGTERM when sockact is killed (SIGKILL), in plain and accept mode', async () => {
    const marker = join(dir(), 'terminated');
    const script = `trap 'echo TERM > ${marker}; exit 0' TERM; echo ready; while :; do sleep 0.05; done`;
    const r = sockact(['-l', '127.0.0.1:0', '--', 'sh', '-c', script]);
    await r.waitFor('stdout', /ready/);
    r.child.kill('SIGKILL');
    await r.exited;
    for (let i = 0; i < 200 && !existsSync(marker); i++) await new Promise((res) => setTimeout(res, 50));
    expect(readFileSync(marker, 'utf8')).toBe('TERM\n');

    // Accept mode: the child started for a connection.
    const path = join(dir(), 'a.sock');
    const acceptMarker = join(dir(), 'terminated');
    const a = sockact(['--accept', '-l', path, '--', 'sh', '-c', script.replace(marker, acceptMarker)]);
    await a.waitFor('stderr', /accepting connections/);
    const c = connect({ path });
    c.on('error', () => {});
    defer(() => c.destroy());
    // Once it runs the program (past the trampoline and setpriv), never in the instant before.
    await a.waitFor('stdout', /ready/);
    a.child.kill('SIGKILL');
    await a.exited;
    for (let i = 0; i < 200 && !existsSync(acceptMarker); i++) await new Promise((res) => setTimeout(res, 50));
    expect(readFileSync(acceptMarker, 'utf8')).toBe('TERM\n');
  });

  it('keeps running when its own stderr is a closed pipe, and ends with the status of its program', async () => {
    const child = spawn(
      process.execPath,
      [SOCKACT, '-l', '127.0.0.1:0', '--', 'sh', '-c', 'sleep 0.3; echo done; exit 7'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    // The reader goes away before sockact says a word: every line it writes meets EPIPE.
    child.stderr!.destroy();
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    expect([code, out]).toEqual([7, 'done\n']);
  });
});
