// The hand-off (sockact --wrapper): sockets offered over a private UNIX socket to descendants of
// the program, for apps behind a wrapper that breaks LISTEN_PID or closes fds 3.. (npm does).
// Real processes: a shell that does not exec (a wrapper), a Node wrapper, a stranger.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serveHandoff, isDescendant, type Handoff } from '../../src/launch/handoff.js';
import {
  closeFd,
  getsockname,
  bind,
  listenSocket,
  O_CLOEXEC,
  pipe,
  pollLoop,
  socket,
  setsockoptInt,
  SOL_SOCKET,
  SO_REUSEADDR,
} from '../../src/sys/index.js';
import { PYTHON, ROOT, exchange, run, type Run } from '../_support/launcher.js';
import { itAsRoot } from '../_support/root.js';
import { tempDir } from '../_support/tmp.js';

const APP = join(ROOT, 'test/launch/fixtures/handoff-app.mjs');
const cleanups: (() => void)[] = [];
const runs: Run[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) {
    r.child.kill('SIGKILL');
    await r.exited;
  }
  for (const c of cleanups.splice(0)) c();
});

function tcpListener(): { fd: number; port: number } {
  const fd = socket('inet', 'stream');
  setsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
  listenSocket(fd, 64);
  cleanups.push(() => closeFd(fd));
  const a = getsockname(fd)!;
  return { fd, port: a.family === 'inet' ? a.port : 0 };
}

/**
 * The environment a wrapper passes on: SOCKACT_FDS_SOCKET, and a LISTEN_PID that is not the app's
 * (the wrapper's; this process stands in for it). The app asks the launcher only then.
 */
const WRAPPED = { LISTEN_PID: String(process.pid) };

function offer(fds: number[], names: string[], root: () => number | undefined): Handoff {
  const h = serveHandoff({ fds, names, root });
  cleanups.push(() => h.close());
  return { ...h, close: () => h.close(), env: { ...h.env, ...WRAPPED } };
}

/** Sends SIGWINCH to every thread of a process but its main one (see the fixture). */
const SIGNAL_EVERY_THREAD = join(ROOT, 'test/launch/fixtures/signal-every-thread.py');

const GET = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

describe('hand-off over a private UNIX socket', () => {
  it('lives in a private 0700 directory, as a socket the launcher alone created', () => {
    const h = offer([], [], () => undefined);
    const dir = statSync(join(h.path, '..'));
    expect(dir.mode & 0o777).toBe(0o700);
    expect(statSync(h.path).isSocket()).toBe(true);
  });

  it('serves an app behind a shell wrapper that does not exec (LISTEN_PID is the shell)', async () => {
    const { fd, port } = tcpListener();
    let root: number | undefined;
    const h = offer([fd], ['web'], () => root);
    // The wrapper: `sh -c 'node app; true'` keeps the shell as the app's parent.
    const r = run('/bin/sh', ['-c', `"${process.execPath}" "${APP}"; true`], {
      cwd: ROOT,
      env: { ...process.env, ...h.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' },
    });
    runs.push(r);
    root = r.child.pid;
    const line = JSON.parse((await r.waitFor('stdout', /^\{.*\}$/m))[0]);
    expect(line.pid).not.toBe(root); // really behind the wrapper
    expect(line.env).toBeNull(); // SOCKACT_FDS_SOCKET is removed, as LISTEN_* are
    expect(line.fds).toHaveLength(1);
    expect(line.fds[0]).toMatchObject({
      name: 'web',
      kind: 'socket',
      type: 'stream',
      listening: true,
      address: `127.0.0.1:${port}`,
    });
    expect(await exchange({ host: '127.0.0.1', port }, GET)).toContain(`hello from pid ${line.pid}`);
  });

  it('serves an app behind a Node wrapper, which closes every inherited fd above 2', async () => {
    const { fd, port } = tcpListener();
    let root: number | undefined;
    const h = offer([fd], ['web'], () => root);
    const wrapper =
      `require('node:child_process').spawn(process.execPath, [${JSON.stringify(APP)}], ` +
      `{ stdio: 'inherit' }).on('exit', (c) => process.exit(c ?? 1))`;
    // The sockets are at fd 3 in the wrapper, and Node closes them in its children, as npm's would be.
    const r = run(process.execPath, ['-e', wrapper], {
      cwd: ROOT,
      env: { ...process.env, ...h.env },
      stdio: ['ignore', 'pipe', 'pipe', fd],
    });
    runs.push(r);
    root = r.child.pid;
    const line = JSON.parse((await r.waitFor('stdout', /^\{.*\}$/m))[0]);
    expect(line.fds[0]).toMatchObject({ name: 'web', address: `127.0.0.1:${port}` });
    expect(await exchange({ host: '127.0.0.1', port }, GET)).toContain(`hello from pid ${line.pid}`);
    r.child.kill('SIGKILL');
  });

  it('refuses a process that is not a descendant of the program, with one clear line', async () => {
    const { fd } = tcpListener();
    const h = offer([fd], ['web'], () => 1 << 22); // a pid no process here descends from
    const r = run(process.execPath, [APP], { cwd: ROOT, env: { ...process.env, ...h.env } });
    runs.push(r);
    const line = JSON.parse((await r.waitFor('stdout', /^\{.*\}$/m))[0]);
    expect(line.code).toBe('ERR_HANDOFF');
    expect(line.error).toMatch(
      /^sockact at SOCKACT_FDS_SOCKET=\S+ refused: pid \d+ is not the program \(pid \d+\) or one of its descendants$/,
    );
    expect((await r.exited).code).toBe(1);
  });

  itAsRoot("refuses a descendant that runs as another user than the program's (SO_PEERCRED uid)", async () => {
    const { fd } = tcpListener();
    const h = serveHandoff({ fds: [fd], names: ['web'], root: () => process.pid, uid: 65534, gid: 65534 });
    cleanups.push(() => h.close());
    // Open the way on purpose (as a careless parent directory would): the uid check must hold alone.
    chmodSync(join(h.path, '..'), 0o711);
    chmodSync(h.path, 0o777);
    const r = run(process.execPath, [APP], {
      cwd: ROOT,
      uid: 1,
      gid: 1,
      env: { ...process.env, ...h.env, ...WRAPPED },
    });
    runs.push(r);
    const line = JSON.parse((await r.waitFor('stdout', /^\{.*\}$/m))[0]);
    expect(line.code).toBe('ERR_HANDOFF');
    expect(line.error).toMatch(/refused: uid 1 is not the program's user \(65534\)$/);
  });

  it('says which socket could not be reached when the launcher is gone', async () => {
    const h = offer([], [], () => undefined);
    const path = h.path;
    h.close();
    const r = run(process.execPath, [APP], {
      cwd: ROOT,
      env: { ...process.env, ...WRAPPED, SOCKACT_FDS_SOCKET: path },
    });
    runs.push(r);
    const line = JSON.parse((await r.waitFor('stdout', /^\{.*\}$/m))[0]);
    expect(line.error).toBe(
      `can't get sockets from sockact at SOCKACT_FDS_SOCKET=${path}: connect to ${path}: no such file or directory`,
    );
  });

  it('passes more fds than one SCM_RIGHTS message holds (253), in order', async () => {
    const fds = Array.from({ length: 300 }, () => tcpListener());
    let root: number | undefined;
    const h = offer(
      fds.map((f) => f.fd),
      fds.map((_, i) => `s${i}`),
      () => root,
    );
    const r = run(process.execPath, [APP], { cwd: ROOT, env: { ...process.env, ...h.env } });
    runs.push(r);
    root = r.child.pid;
    const line = JSON.parse((await r.waitFor('stdout', /^\{.*\}$/m))[0]);
    expect(line.fds).toHaveLength(300);
    expect(line.fds.map((d: { name: string }) => d.name)).toEqual(fds.map((_, i) => `s${i}`));
    expect(line.fds.map((d: { address: string }) => d.address)).toEqual(fds.map((f) => `127.0.0.1:${f.port}`));
  });

  it('keeps serving when a signal interrupts its poll() on the threadpool (EINTR)', async () => {
    const onWinch = () => {};
    process.on('SIGWINCH', onWinch);
    cleanups.push(() => process.off('SIGWINCH', onWinch));
    const h = offer([], [], () => 1 << 22);
    // A process-directed signal goes to the main thread when it can take it; tgkill aims one at every
    // other thread instead, the one parked in the hand-off's poll() among them.
    await new Promise<void>((resolve, reject) =>
      execFile(PYTHON, [SIGNAL_EVERY_THREAD, String(process.pid)], (err) => (err ? reject(err) : resolve())),
    );
    const r = run(process.execPath, [APP], { cwd: ROOT, env: { ...process.env, ...h.env } });
    runs.push(r);
    const line = JSON.parse((await r.waitFor('stdout', /^\{.*\}$/m))[0]);
    expect(line.error).toMatch(/refused: pid \d+ is not the program/);
  });

  it('reports a failure of its poll() to onError, closes everything, and leaves no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => process.off('unhandledRejection', onUnhandled));
    let onError!: (err: Error) => void;
    const failed = new Promise<Error>((resolve) => (onError = resolve));
    const h = serveHandoff({ fds: [], names: [], root: () => undefined, onError });
    cleanups.push(() => h.close());
    // A real poll() failure: more fds in the set than RLIMIT_NOFILE allows (poll(2): EINVAL).
    // The soft limit stays above every fd open now, so nothing else is refused meanwhile.
    const hard = readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+)\s+(\d+)/m)!;
    const highest = Math.max(...readdirSync('/proc/self/fd').map(Number));
    const quiet = pipe(O_CLOEXEC);
    cleanups.push(() => quiet.forEach(closeFd));
    const soft = highest + 32;
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${soft}:${hard[2]}`]);
    cleanups.push(() => void execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard[1]}:${hard[2]}`]));
    const extra = Array.from({ length: soft }, () => pollLoop().watch(quiet[0], () => {}));
    cleanups.push(() => {
      for (const w of extra) w.close();
    });
    const err = await failed;
    expect(err).toMatchObject({ code: 'EINVAL', syscall: 'poll' });
    expect(existsSync(join(h.path, '..'))).toBe(false);
    await new Promise((r) => setTimeout(r, 50)); // an unhandled rejection is reported after a turn
    expect(unhandled).toEqual([]);
  });

  it('cleans up after itself when the socket cannot be made: no fd, no directory left', () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    // A runtime directory so deep that <dir>/sockact-XXXXXX/fds.sock does not fit in sun_path.
    const base = join(dir, 'x'.repeat(120));
    mkdirSync(base);
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = base;
    cleanups.push(() => {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved;
    });
    const before = readdirSync('/proc/self/fd');
    expect(() => serveHandoff({ fds: [], names: [], root: () => undefined })).toThrow(/too long/);
    expect(readdirSync('/proc/self/fd')).toEqual(before);
    expect(readdirSync(base)).toEqual([]);
  });

  it('isDescendant walks the real process tree', () => {
    expect(isDescendant(process.pid, process.pid)).toBe(true);
    expect(isDescendant(process.pid, process.ppid)).toBe(true);
    expect(isDescendant(process.ppid, process.pid)).toBe(false);
    expect(isDescendant(1, process.pid)).toBe(false);
  });
});
