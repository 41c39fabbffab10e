import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { PYTHON, run, SOCKACT, sockact } from '../_support/launcher.js';

/** A child that reports each signal it gets on stdout, and exits 0 on SIGTERM. */
const REPORTER = `
import os, signal, sys
def report(sig, frame):
    print("got " + signal.Signals(sig).name, flush=True)
    if sig == signal.SIGTERM:
        sys.exit(0)
for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGWINCH, signal.SIGALRM, signal.SIGPWR, signal.SIGVTALRM):
    signal.signal(s, report)
print("ready", flush=True)
while True:
    signal.pause()
`;

/** Prints "ready", then waits to be killed with the default action of whatever arrives. */
const SLEEPER = `
import signal
print("ready", flush=True)
while True:
    signal.pause()
`;

function startedPid(stderr: string): number {
  return Number(/started .* as pid (\d+)/.exec(stderr)![1]);
}

describe('sockact: signals', () => {
  it('passes every other catchable signal on (SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGPWR, SIGVTALRM), then stops on SIGTERM with the code the program chose', async () => {
    const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, '-c', REPORTER]);
    await r.waitFor('stdout', /ready\n/);
    const sigs = ['SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM', 'SIGPWR', 'SIGVTALRM'] as const;
    for (const sig of sigs) {
      r.child.kill(sig);
      await r.waitFor('stdout', new RegExp(`got ${sig}\\n`));
    }
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(r.stdout).toBe(`ready\n${sigs.map((s) => `got ${s}\n`).join('')}got SIGTERM\n`);
    // SIGUSR1 went to the child, not to Node's inspector in sockact.
    expect(r.stderr).not.toContain('Debugger');
    expect(r.stderr).toContain(`sockact: pid ${startedPid(r.stderr)} exited with code 0`);
  });

  it('SIGINT and SIGQUIT to sockact reach the program once each, as the signal they are', async () => {
    for (const sig of ['SIGINT', 'SIGQUIT'] as const) {
      const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, '-c', REPORTER.replace('if sig == signal.SIGTERM', `if sig == signal.${sig}`)]);
      await r.waitFor('stdout', /ready\n/);
      r.child.kill(sig);
      expect(await r.ended(sig)).toEqual({ code: 0, signal: null });
      expect(r.stdout).toBe(`ready\ngot ${sig}\n`);
    }
  });

  it('SIGHUP reloads: a new generation starts on the same socket, then the old one gets SIGTERM', async () => {
    const r = sockact(['-l', '127.0.0.1:0', '--ready', '200ms', '--', PYTHON, '-c', REPORTER]);
    await r.waitFor('stdout', /ready\n/);
    const first = startedPid(r.stderr);
    r.child.kill('SIGHUP');
    await r.waitFor('stderr', /reloaded: generation 2 ready/);
    await r.waitFor('stderr', new RegExp(`pid ${first} exited with code 0`));
    expect(r.stdout).toBe('ready\nready\ngot SIGTERM\n'); // the old one never saw SIGHUP
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('a signal sent to the whole process group reaches the program once (the program has its own group)', async () => {
    // Counts deliveries at the C level (the wake-up fd gets a byte per delivery; Python-level
    // handlers would coalesce two close SIGUSR1s into one call).
    const counter = `
import os, signal, sys
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
for s in (signal.SIGUSR1, signal.SIGTERM):
    signal.signal(s, lambda *a: None)
print("ready", flush=True)
count = 0
while True:
    for sig in os.read(r, 16):
        if sig == signal.SIGUSR1:
            count += 1
        elif sig == signal.SIGTERM:
            print("usr1 count %d" % count, flush=True)
            sys.exit(0)
`;
    const r = run('setsid', ['sh', '-c', '"$@" & wait', 'sh', process.execPath, SOCKACT, '-l', '127.0.0.1:0', '--', PYTHON, '-c', counter]);
    await r.waitFor('stdout', /ready\n/);
    process.kill(-r.child.pid!, 'SIGUSR1');
    await new Promise((res) => setTimeout(res, 500)); // a second delivery would have come by now
    process.kill(-r.child.pid!, 'SIGTERM');
    await r.ended('SIGTERM to the process group');
    expect(r.stdout).toBe('ready\nusr1 count 1\n');
  });

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGKILL'] as const)(
    'ends by the signal that killed the program (%s), so a shell sees 128+N',
    async (sig) => {
      const script = `"$@"; echo "status=$?"`;
      const r = run('sh', ['-c', script, 'sh', process.execPath, SOCKACT, '-l', '127.0.0.1:0', '--', PYTHON, '-c', SLEEPER]);
      await r.waitFor('stdout', /ready\n/);
      const pid = startedPid((await r.waitFor('stderr', /started .* as pid \d+/))[0]);
      process.kill(pid, sig);
      await r.ended(`${sig} to the program`);
      expect(r.stdout).toBe(`ready\nstatus=${128 + constants.signals[sig]}\n`);
      expect(r.stderr).toContain(`sockact: pid ${pid} killed by ${sig}`);
    },
  );

  it('ends by the forwarded signal itself: SIGTERM to sockact stops the program and sockact', async () => {
    const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, '-c', SLEEPER]);
    await r.waitFor('stdout', /ready\n/);
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('exits 128+N for a signal that dumps core, instead of dumping a core of its own', async () => {
    const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, '-c', SLEEPER]);
    await r.waitFor('stdout', /ready\n/);
    const pid = startedPid((await r.waitFor('stderr', /started .* as pid \d+/))[0]);
    process.kill(pid, 'SIGQUIT');
    expect(await r.ended('SIGQUIT')).toEqual({ code: 128 + constants.signals.SIGQUIT, signal: null });
  });

  it('lets a Ctrl-C in a terminal reach the program once, not twice', async () => {
    // A real pseudo-terminal: sockact and its child form the foreground process group, and ^C
    // makes the kernel send SIGINT to both. The child counts the SIGINTs it got, then asks its
    // parent (sockact) for a SIGUSR1; sockact handles signals in order, so a forwarded SIGINT
    // would have reached the child before the forwarded SIGUSR1 does.
    const child = `
import os, signal, sys
# The wake-up fd gets one byte per delivery, from the C-level handler: nothing is coalesced
# the way Python-level handlers are.
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
signal.signal(signal.SIGINT, lambda *a: None)
signal.signal(signal.SIGUSR1, lambda *a: None)
print("ready", flush=True)
count = 0
while True:
    for sig in os.read(r, 16):
        if sig == signal.SIGINT:
            count += 1
            if count == 1:
                os.kill(os.getppid(), signal.SIGUSR1)
        elif sig == signal.SIGUSR1:
            print("sigint count %d" % count, flush=True)
            sys.exit(0)
`;
    const driver = `
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf = b""
sent = False
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    buf += data
    if not sent and b"ready" in buf:
        os.write(fd, b"\\x03")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace"))
print("exit %d" % os.waitstatus_to_exitcode(status))
`;
    const r = run(PYTHON, ['-c', driver, process.execPath, SOCKACT, '-q', '-l', '127.0.0.1:0', '--', PYTHON, '-c', child]);
    await r.exited;
    expect(r.stdout).toMatch(/sigint count 1\r?\n/);
    expect(r.stdout).toMatch(/exit 0\n$/);
  });
});
