// --prefix throughput (issue 14): a child writing numbered 100-byte lines as fast as it can, into
// a reader that is fast (/dev/null, a regular file, or a pipe read at full speed) or slow (a pipe
// read at 2 MB/s),
// once through `sockact --prefix` and once straight, alternating. Measured: the lines the reader
// got whole and in order (lost = written - got), the child's own write rate (its bytes over the
// time from its first write to its last), and sockact's RSS growth (sampled every 20 ms).
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, median, sockactBin } from './lib.js';

const PYTHON = '/usr/bin/python3';
const LINE = 100; // bytes with the newline: "%06d " + 93 x "x" + "\n"

// The child: once told (SIGUSR1), writes `n` lines to stdout, then its own elapsed seconds to
// the file `out`. It waits so that sockact's RSS is sampled once sockact has started it.
const WRITER = `
import os, signal, sys, time
n, out, pidf = int(sys.argv[1]), sys.argv[2], sys.argv[3]
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
open(pidf + ".new", "w").write(str(os.getpid()))
os.rename(pidf + ".new", pidf)
signal.sigwait([signal.SIGUSR1])
w = sys.stdout.buffer
pad = b"x" * 93
t0 = time.monotonic()
for i in range(n): w.write(b"%06d %s\\n" % (i, pad))
w.flush()
open(out, "w").write(repr(time.monotonic() - t0))
`;

// The reader: stdin at `rate` bytes/s (0: as fast as it comes); counts the lines that are the
// writer's, whole and in order (with or without a tag), and writes the count to `out`.
const READER = `
import os, re, sys, time
rate, out = float(sys.argv[1]), sys.argv[2]
line = re.compile(rb"^(?:\\[\\d+ \\d+\\] )?(\\d{6}) x{93}$")
got, nxt, rest, n = 0, 0, b"", 0
t0 = time.monotonic()
while True:
    b = os.read(0, 65536)
    if not b: break
    n += len(b)
    parts = (rest + b).split(b"\\n")
    rest = parts.pop()
    for p in parts:
        m = line.match(p)
        if m and int(m.group(1)) == nxt:
            got += 1
            nxt += 1
    if rate:
        d = t0 + n / rate - time.monotonic()
        if d > 0: time.sleep(d)
open(out, "w").write(str(got))
`;

/** The writer's lines in `file`, whole and in order (with or without a tag), as READER counts them. */
function countLines(file) {
  const line = /^(?:\[\d+ \d+\] )?(\d{6}) x{93}$/;
  let next = 0;
  for (const l of readFileSync(file, 'latin1').split('\n')) {
    const m = line.exec(l);
    if (m && Number(m[1]) === next) next++;
  }
  return next;
}

const rssKB = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return undefined;
  }
};

const exited = (child) => new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));

/** One run: `lines` lines into `reader` ('null', 'file', or a pipe at `rate` B/s), through sockact or not. */
async function once({ lines, reader, rate, viaSockact }) {
  const dir = mkdtempSync(join(tmpdir(), 'sockact-bench-prefix-'));
  try {
    const writerOut = join(dir, 'writer');
    const readerOut = join(dir, 'reader');
    let readerDone;
    let fd;
    if (reader === 'null') fd = openSync('/dev/null', 'w');
    else if (reader === 'file') fd = openSync(readerOut, 'w');
    else {
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      readerDone = exited(
        spawn('sh', ['-c', 'exec "$@" < "$0"', fifo, PYTHON, '-c', READER, String(rate), readerOut], {
          stdio: 'ignore',
        }),
      );
      fd = openSync(fifo, 'w');
    }
    const pidFile = join(dir, 'pid');
    const writer = [PYTHON, '-c', WRITER, String(lines), writerOut, pidFile];
    const argv = viaSockact
      ? [process.execPath, sockactBin, '-q', '-l', '127.0.0.1:0', '--ready', '10ms', '--prefix', '--', ...writer]
      : writer;
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, 'pipe'], env: cleanEnv() });
    closeSync(fd);
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const end = exited(proc);
    while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 10));
    // sockact's RSS from just before the child starts writing, every 20 ms until it ends.
    const rss = [];
    const sample = () => {
      const kb = viaSockact ? rssKB(proc.pid) : undefined;
      if (kb !== undefined) rss.push(kb);
    };
    sample();
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGUSR1');
    const sampling = setInterval(sample, 20);
    const ended = await end;
    clearInterval(sampling);
    if (ended.code !== 0) throw new Error(`${argv.join(' ').slice(0, 80)} ended ${JSON.stringify(ended)}: ${stderr}`);
    await readerDone;
    const seconds = Number(readFileSync(writerOut, 'utf8'));
    const got =
      reader === 'null'
        ? undefined
        : reader === 'file'
          ? countLines(readerOut)
          : Number(readFileSync(readerOut, 'utf8'));
    return {
      childMBps: (lines * LINE) / seconds / 1e6,
      lost: got === undefined ? undefined : lines - got,
      rssGrowthMB: rss.length > 1 ? (Math.max(...rss) - rss[0]) / 1024 : undefined,
      rssMaxMB: rss.length ? Math.max(...rss) / 1024 : undefined,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `rounds` alternating pairs (straight, sockact) per case: medians, and the worst of lost and RSS growth. */
export async function run({ rounds = 3 } = {}) {
  const cases = {
    // 20 MB each: long enough for a steady rate, a second or two.
    // /dev/null: through sockact the child gets /dev/null itself (src/supervise/real.ts).
    devNull: { lines: 200_000, reader: 'null' },
    file: { lines: 200_000, reader: 'file' },
    fastPipe: { lines: 200_000, reader: 'pipe', rate: 0 },
    // 6 MB at 2 MB/s: about 3 s each.
    slowPipe2MBps: { lines: 60_000, reader: 'pipe', rate: 2e6 },
  };
  const out = {};
  for (const [name, c] of Object.entries(cases)) {
    const straight = [];
    const through = [];
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 ? [true, false] : [false, true];
      for (const viaSockact of order) (viaSockact ? through : straight).push(await once({ ...c, viaSockact }));
    }
    const straightMBps = median(straight.map((r) => r.childMBps));
    const sockactMBps = median(through.map((r) => r.childMBps));
    out[name] = {
      lines: c.lines,
      straightMBps,
      sockactMBps,
      ratio: sockactMBps / straightMBps,
      lostStraight: c.reader === 'null' ? 'not counted (/dev/null)' : Math.max(...straight.map((r) => r.lost)),
      lostSockact: c.reader === 'null' ? 'not counted (/dev/null)' : Math.max(...through.map((r) => r.lost)),
      sockactRssGrowthMBMax: Math.max(...through.map((r) => r.rssGrowthMB ?? 0)),
      sockactRssMaxMB: Math.max(...through.map((r) => r.rssMaxMB ?? 0)),
      runs: { straight, sockact: through },
    };
  }
  return {
    ...out,
    target: 'lost 0; child rate through sockact >= 0.9x straight; RSS growth bounded (< 1 MB of output buffers)',
  };
}
