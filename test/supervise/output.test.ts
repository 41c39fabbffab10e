// The children's output through sockact (--prefix), end to end: real sockact, real children,
// real pipes to readers that are slow or go away. Nothing here is timed: what is asserted is
// what arrived, in which order, and that sockact kept supervising and ended when told.
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LINE_MAX } from '../../src/supervise/output.js';
import { perTest, PYTHON, run, SOCKACT, sockact, type Run } from '../_support/launcher.js';
import { waitUntil } from '../_support/wait.js';

const { defer, dir } = perTest();

/** sockact with its stdout and stderr on one pipe (as `2>&1 |`), which the test reads only when it wants to. */
function sockactOnOnePipe(args: string[]): ChildProcess {
  const child = spawn('sh', ['-c', 'exec "$@" 2>&1', 'sh', process.execPath, SOCKACT, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  defer(() => child.kill('SIGKILL'));
  return child;
}

/** Whether process `pid` is running (not gone, not a zombie). */
function alive(pid: number | undefined): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function pidIn(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8'));
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

describe('--prefix: a slow reader gets back-pressure, not loss', () => {
  it(
    'every line of 10 MB reaches a slow reader, whole and in order, ' +
      'before the end is told; the child waits for the reader',
    async () => {
      const pidFile = join(dir(), 'pid');
      const lines = 100_000;
      // 100,000 numbered lines (10 MB), then one without a newline, then exit 0.
      const writer = [
        'import os, sys',
        `open(${JSON.stringify(pidFile)}, "w").write(str(os.getpid()))`,
        `for i in range(${lines}): sys.stdout.write("%06d %s\\n" % (i, "x" * 93))`,
        'sys.stdout.write("last, without a newline")',
      ].join('\n');
      const child = sockactOnOnePipe(['-l', '127.0.0.1:0', '--prefix', '--', PYTHON, '-c', writer]);
      const closed = new Promise((resolve) => child.on('close', (code) => resolve(code)));
      // The reader takes a chunk (at most 64 KiB) every 10 ms: at most 6.4 MB/s, slower than the child writes.
      let all = '';
      let aliveAtHalf: boolean | undefined;
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        all += d;
        if (aliveAtHalf === undefined && all.length > 5_000_000) aliveAtHalf = alive(pidIn(pidFile));
        child.stdout!.pause();
        setTimeout(() => child.stdout!.resume(), 10);
      });
      expect(await closed).toBe(0);
      // Half-way through, the child was still writing: it waits for the reader rather than sockact buffering for it.
      expect(aliveAtHalf).toBe(true);
      const pid = pidIn(pidFile)!;
      const got = all.split('\n');
      const tag = `[1 ${pid}] `;
      const mine = got.filter((l) => l.startsWith(tag));
      expect(mine).toHaveLength(lines + 1);
      for (let i = 0; i < lines; i++) {
        if (mine[i] !== `${tag}${String(i).padStart(6, '0')} ${'x'.repeat(93)}`)
          throw new Error(`line ${i} is ${JSON.stringify(mine[i])}`);
      }
      expect(mine[lines]).toBe(`${tag}last, without a newline`);
      // The end is told after the last line.
      expect(got.indexOf(`sockact: pid ${pid} exited with code 0`)).toBeGreaterThan(got.indexOf(mine[lines]!));
    },
  );

  it(
    `a line longer than ${LINE_MAX} bytes is split into tagged ` +
      `lines of at most that, never inside a UTF-8 character`,
    async () => {
      // 100,000 two-byte characters after one byte: a cut at exactly LINE_MAX bytes would fall inside one.
      const long = `a${'é'.repeat(100_000)}`;
      const script = 'process.stdout.write("a" + "é".repeat(100000) + "\\n")';
      const r = run(process.execPath, [SOCKACT, '-l', '127.0.0.1:0', '--prefix', '--', process.execPath, '-e', script]);
      defer(() => r.child.kill('SIGKILL'));
      expect((await r.ended('its program exited')).code).toBe(0);
      const body = r.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((p) => {
          const m = /^\[1 \d+\] (.*)$/.exec(p);
          if (!m) throw new Error(`untagged: ${p.slice(0, 80)}`);
          return m[1]!;
        });
      expect(body.length).toBeGreaterThanOrEqual(Math.ceil(Buffer.byteLength(long) / LINE_MAX));
      expect(Buffer.byteLength(body[0]!)).toBeGreaterThanOrEqual(LINE_MAX - 3);
      for (const b of body) expect(Buffer.byteLength(b)).toBeLessThanOrEqual(LINE_MAX);
      expect(r.stdout).not.toContain('\ufffd');
      expect(body.join('')).toBe(long);
    },
  );
});

describe('--prefix: the end of a child', () => {
  it(
    'is told once the pipe is empty, even while something ' + 'that left its process group still holds the pipe',
    async () => {
      const pidFile = join(dir(), 'escaped');
      // sleep in a session of its own (setsid before exec; Popen returns once it has exec'd), out of
      // reach of the stop of the child's group, holding the child's stdout open.
      const script = [
        'import subprocess',
        'p = subprocess.Popen(["sleep", "60"], start_new_session=True)',
        `open(${JSON.stringify(pidFile)}, "w").write(str(p.pid))`,
        'print("bye")',
      ].join('\n');
      const r = run(process.execPath, [SOCKACT, '-l', '127.0.0.1:0', '--prefix', '--', PYTHON, '-c', script]);
      defer(() => r.child.kill('SIGKILL'));
      defer(() => {
        const pid = pidIn(pidFile);
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
      });
      expect(await r.ended('its program exited')).toEqual({ code: 0, signal: null });
      expect(r.stdout).toMatch(/^\[1 \d+\] bye\n$/);
      expect(alive(pidIn(pidFile))).toBe(true);
    },
  );
});

/**
 * A real pipe to `head -1` (as `sockact ... | head -1`): a FIFO, `head` reading it, and the write
 * end as a fd to give sockact (the caller closes it once sockact has it). `head` reads one line and
 * exits, and the next write to the pipe gets EPIPE.
 */
function pipeToHead(): { fd: number; head: Run } {
  const fifo = join(dir(), 'fifo');
  execFileSync('mkfifo', [fifo]);
  const head = run('sh', ['-c', 'exec head -1 < "$0"', fifo]);
  defer(() => head.child.kill('SIGKILL'));
  // Blocks until `head` has opened the other end, a moment.
  return { fd: openSync(fifo, 'w'), head };
}

/** sockact with `args`, its stdout (1) or stderr (2) a pipe to `head -1`, the other piped to the test. */
function sockactIntoHead(args: string[], which: 1 | 2): { r: Run; head: Run } {
  const { fd, head } = pipeToHead();
  const stdio: StdioOptions = which === 1 ? ['ignore', fd, 'pipe'] : ['ignore', 'pipe', fd];
  const r = run(process.execPath, [SOCKACT, ...args], { stdio });
  closeSync(fd);
  defer(() => r.child.kill('SIGKILL'));
  return { r, head };
}

/** A child that says one line on stdout and one on stderr every 10 ms, and counts as ready after 50 ms alive. */
const CHATTY = [
  '--ready',
  '50ms',
  '--prefix',
  '--',
  process.execPath,
  '-e',
  'let n = 0; setInterval(() => { console.log("out", n); console.error("err", n++); }, 10)',
];

async function stoppedBySigterm(r: Run): Promise<void> {
  r.child.kill('SIGTERM');
  expect(await r.ended('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
}

describe('--prefix: a reader that goes away costs that output only', () => {
  it('stdout read by `head -1`: one warning on stderr, and sockact supervises on (reload, stop)', async () => {
    const { r, head } = sockactIntoHead(['-l', '127.0.0.1:0', ...CHATTY], 1);
    expect(await head.exited).toEqual({ code: 0, signal: null });
    expect(head.stdout).toMatch(/^\[1 \d+\] out 0\n$/);
    // The next line sockact passes on gets EPIPE.
    await r.waitFor(
      'stderr',
      /sockact: stdout is gone \(EPIPE\): the children's output to it is dropped from now on\n/,
    );
    r.child.kill('SIGHUP');
    await r.waitFor('stderr', /reloaded: generation 2 ready/);
    // The children's stderr still passes, tagged with the new generation.
    await r.waitFor('stderr', /^\[2 \d+\] err \d+$/m);
    await stoppedBySigterm(r);
    expect(r.stderr.match(/is gone/g)).toHaveLength(1);
  });

  it("stderr read by `head -1`: one warning on stdout, and the children's stdout keeps going there", async () => {
    const { r, head } = sockactIntoHead(['-l', '127.0.0.1:0', ...CHATTY], 2);
    expect(await head.exited).toEqual({ code: 0, signal: null });
    expect(head.stdout).toMatch(/^sockact: listening on /);
    await r.waitFor(
      'stdout',
      /^sockact: stderr is gone \(EPIPE\): sockact's messages and the children's output to it are dropped from now on$/m,
    );
    await r.waitFor('stdout', /^\[1 \d+\] out \d+$/m);
    r.child.kill('SIGHUP');
    await r.waitFor('stdout', /^\[2 \d+\] out \d+$/m);
    await stoppedBySigterm(r);
    expect(r.stdout.match(/is gone/g)).toHaveLength(1);
  });
});

describe('without --prefix the children write to the inherited fds themselves', () => {
  it(
    "stderr read by `head -1`: sockact's messages are dropped, " + "stdout stays the program's, and it supervises on",
    async () => {
      const { r, head } = sockactIntoHead(['-l', '127.0.0.1:0', '--ready', '50ms', '--', 'sleep', '60'], 2);
      expect(await head.exited).toEqual({ code: 0, signal: null });
      expect(head.stdout).toMatch(/^sockact: listening on /);
      // Once its child runs (its signal handlers are in place), a stop: its lines get EPIPE.
      const children = `/proc/${r.child.pid}/task/${r.child.pid}/children`;
      await waitUntil('sockact started its child', () => readFileSync(children, 'utf8').trim() !== '');
      await stoppedBySigterm(r);
      expect(r.stdout).toBe('');
    },
  );

  it('`yes | head -1`: yes dies of SIGPIPE, as it would without sockact, and sockact ends the same way', async () => {
    const { r, head } = sockactIntoHead(['-l', '127.0.0.1:0', '--', 'yes'], 1);
    expect(await r.ended('its program died')).toEqual({ code: null, signal: 'SIGPIPE' });
    expect(head.stdout).toBe('y\n');
    expect(r.stderr).toMatch(/sockact: pid \d+ killed by SIGPIPE\n$/);
  });
});

describe('--prefix when sockact writes to /dev/null', () => {
  // The child says what its fd 1 is, on stdout and on stderr, then exits 0.
  const SAYS = [
    PYTHON,
    '-c',
    'import os, sys\nwhat = os.readlink("/proc/self/fd/1")\n' +
      'print("fd1", what, flush=True)\nprint("fd1", what, file=sys.stderr)',
  ];
  const whatFd1 = (text: string) => /^\[1 \d+\] fd1 (\S+)$/m.exec(text)?.[1];

  it('hands the child /dev/null itself for stdout (nothing reads it), and still relays its stderr', async () => {
    const devNull = openSync('/dev/null', 'w');
    const r = sockact(['-l', '127.0.0.1:0', '--prefix', '--restart', 'no', '--', ...SAYS], {
      stdio: ['ignore', devNull, 'pipe'],
    });
    closeSync(devNull);
    expect(await r.ended('its program exited')).toEqual({ code: 0, signal: null });
    expect(whatFd1(r.stderr)).toBe('/dev/null');
  });

  it('relays into a regular file as into any reader: tagged lines, the child writing to a pipe', async () => {
    const file = join(dir(), 'out');
    const fd = openSync(file, 'w');
    const r = sockact(['-l', '127.0.0.1:0', '--prefix', '--restart', 'no', '--', ...SAYS], {
      stdio: ['ignore', fd, 'pipe'],
    });
    closeSync(fd);
    expect(await r.ended('its program exited')).toEqual({ code: 0, signal: null });
    expect(whatFd1(r.stderr)).toMatch(/^pipe:\[\d+\]$/);
    expect(whatFd1(readFileSync(file, 'utf8'))).toMatch(/^pipe:\[\d+\]$/);
  });
});
