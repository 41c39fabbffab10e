import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WAIT_TIMEOUT } from './wait.js';

// Temp dirs and abstract names live in tmp.ts; re-exported for the tests that import them from here.
export { abstractName, perTest, tempDir } from './tmp.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The built command, as a user runs it (tests run the code in dist/, built by test/_support/global-setup.ts). */
export const SOCKACT = join(ROOT, 'bin/sockact.js');
/** libsystemd's own sd_listen_fds_with_names() + sd_is_socket*(), through ctypes. */
export const SD_PEER = join(ROOT, 'test/_support/sd-peer.py');
/** libsystemd's own sd_watchdog_enabled(), through ctypes, in the program and in a Python it starts. */
export const SD_WATCHDOG_TREE = join(ROOT, 'test/_support/sd-watchdog-tree.py');
/** Debian's python3 when present (pyenv's shim on PATH adds a bash start-up), else whatever is on PATH. */
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * A Python program (fd-lister.py) that prints, as one JSON line, every fd it holds with its
 * FD_CLOEXEC and O_NONBLOCK flags and what it points to, plus the environment variables named
 * in its arguments.
 */
export const FD_LISTER_PY = join(ROOT, 'test/_support/fd-lister.py');
/** The same program as text, for tests that run it with `python3 -c` or add lines to it. */
export const FD_LISTER = readFileSync(FD_LISTER_PY, 'utf8');

/**
 * How long Run.waitFor waits unless told: longer than the other waits (test/_support/wait.ts),
 * since one waitFor may span a whole run (npm start's demo takes ~11 s here), yet short of the
 * 30 s test timeout, so a hang fails with what the process wrote instead of "timed out".
 */
export const RUN_WAIT_TIMEOUT = 20_000;

export interface Run {
  child: ChildProcess;
  /** Everything written so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Settles when the process has exited and its output is complete. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * `exited`, bounded: still running `timeout` ms on (default WAIT_TIMEOUT) is an error that says
   * it outlived `after` (what should have ended it: "SIGTERM") and shows what it wrote.
   */
  ended(after: string, timeout?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Resolve with the first match of `re` on a stream, waiting for more output as needed. The
   * process's exit without it, or `timeout` ms (default RUN_WAIT_TIMEOUT) without it, is an
   * error naming `re` and showing what the process wrote.
   */
  waitFor(stream: 'stdout' | 'stderr', re: RegExp, timeout?: number): Promise<RegExpMatchArray>;
}

/** Run a command with piped output and helpers to wait for lines. */
export function run(command: string, args: readonly string[], opts: SpawnOptions = {}): Run {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const out = { stdout: '', stderr: '' };
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
    wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
    wake();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('close', (code, signal) => {
      res({ code, signal });
      wake();
    });
  });
  let closed = false;
  void exited.then(() => (closed = true));
  return {
    child,
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    exited,
    ended(after, timeout = WAIT_TIMEOUT) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, rej) => {
        timer = setTimeout(
          () =>
            rej(
              new Error(
                `pid ${child.pid} (${child.spawnargs.slice(1, 3).join(' ')} ...) still ` +
                  `running ${timeout} ms after ${after}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`,
              ),
            ),
          timeout,
        );
      });
      return Promise.race([exited, late]).finally(() => clearTimeout(timer));
    },
    async waitFor(stream, re, timeout = RUN_WAIT_TIMEOUT) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const m = out[stream].match(re);
        if (m) return m;
        if (closed) {
          throw new Error(`exited without ${re} on ${stream}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `no ${re} on ${stream} of pid ${child.pid} within ${timeout} ms\n` +
              `stdout: ${out.stdout}\nstderr: ${out.stderr}`,
          );
        }
        await new Promise<void>((r) => {
          const timer = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(timer);
            r();
          });
        });
      }
    },
  };
}

/** Run the sockact command (node bin/sockact.js ARGS). */
export function sockact(args: readonly string[], opts: SpawnOptions = {}): Run {
  return run(process.execPath, [SOCKACT, ...args], opts);
}

/** Run a sockact subcommand (`status`, `reload --name N`...) to its end: its exit code and output. */
export function sockactOutcome(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = sockact(args);
  return r.exited.then(({ code }) => ({ code, stdout: r.stdout, stderr: r.stderr }));
}

/** The address sockact reported for the socket at `fd` ("listening on 127.0.0.1:41234 as fd 3"). */
export async function listeningOn(r: Run, fd = 3): Promise<string> {
  const m = await r.waitFor('stderr', new RegExp(`listening on (\\S+) as fd ${fd}\\b`));
  return m[1]!;
}

/** Split "127.0.0.1:80" / "[::1]:80" into host and port. */
export function hostPort(label: string): { host: string; port: number } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(label);
  if (!m) throw new Error(`not host:port: ${label}`);
  return { host: m[1]!, port: Number(m[2]) };
}

/**
 * Connect over TCP or a UNIX path and collect everything the peer sends until it closes. No close
 * within `timeout` ms (default RUN_WAIT_TIMEOUT) is an error naming the target and what came.
 */
export function exchange(
  target: { host: string; port: number } | { path: string },
  send?: string,
  timeout = RUN_WAIT_TIMEOUT,
): Promise<string> {
  return new Promise((res, rej) => {
    const s: Socket = connect(target as never);
    let data = '';
    const what = 'path' in target ? target.path : `${target.host}:${target.port}`;
    s.setTimeout(timeout, () =>
      s.destroy(
        new Error(
          `${what}: the peer did not close the connection within ${timeout} ms; it sent: ${JSON.stringify(data)}`,
        ),
      ),
    );
    s.setEncoding('utf8');
    s.on('connect', () => {
      if (send !== undefined) s.end(send);
    });
    s.on('data', (d: string) => (data += d));
    s.on('error', rej);
    s.on('close', () => res(data));
  });
}
