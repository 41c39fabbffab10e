// A child process that reports on stdout one JSON line at a time (the fixtures, the Python peers).
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * How long json() waits for the next line unless told: a hang fails here, naming the child, not at the 30 s test
 * timeout.
 */
export const LINE_TIMEOUT = 10_000;

export interface Child {
  proc: ChildProcess;
  /**
   * The next stdout line parsed as JSON. `timeout` ms without one (default LINE_TIMEOUT), or the
   * child's exit, is an error that shows what the child wrote to stderr.
   */
  // biome-ignore lint/suspicious/noExplicitAny: a fixture's JSON report; each test asserts the shape it expects.
  json(timeout?: number): Promise<any>;
  stderr(): string;
  /** Close stdin (the fixtures exit on it) and wait for the exit. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Read a spawned child's stdout as JSON lines (spawn it with stdio pipe for stdin, stdout and stderr). */
export function wrap(proc: ChildProcess): Child {
  const lines: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let ended = false;
  let err = '';
  const who = () => `pid ${proc.pid} (${proc.spawnargs.slice(0, 3).join(' ')})`;
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  createInterface({ input: proc.stdout! })
    .on('line', (line) => {
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    })
    .on('close', () => {
      ended = true;
      for (const w of waiters.splice(0)) w(undefined);
    });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const nextLine = (timeout: number) =>
    new Promise<string | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`${who()} wrote no line within ${timeout} ms; stderr: ${err}`));
      }, timeout);
      const waiter = (line: string | undefined) => {
        clearTimeout(timer);
        resolve(line);
      };
      waiters.push(waiter);
    });
  return {
    proc,
    exited,
    stderr: () => err,
    json: async (timeout = LINE_TIMEOUT) => {
      const line = lines.length ? lines.shift() : ended ? undefined : await nextLine(timeout);
      if (line === undefined) throw new Error(`${who()} ended without output; stderr: ${err}`);
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`${who()} printed a line that is not JSON: ${line}; stderr: ${err}`);
      }
    },
    stop: async () => {
      proc.stdin!.end();
      return exited;
    },
  };
}
