import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PYTHON, run, SOCKACT, sockact, tempDir } from '../_support/launcher.js';

/** A child that reports each signal it gets on stdout, and exits 0 on SIGTERM (or on the signal in its argv). */
const REPORTER = join(import.meta.dirname, 'fixtures/signal-reporter.py');

/** Prints "ready", then waits to be killed with the default action of whatever arrives. */
const SLEEPER = join(import.meta.dirname, 'fixtures/sleeper.py');

function startedPid(stderr: string): number {
  return Number(/started .* as pid (\d+)/.exec(stderr)![1]);
}

describe('sockact: signals', () => {
  it(
    'passes every other catchable signal on (SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, ' +
      'SIGPWR, SIGVTALRM), then stops on SIGTERM with the code the program chose',
    async () => {
      const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, REPORTER]);
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
    },
  );

  it(
    "SIGABRT (systemd's WatchdogSignal=) is not passed on: " +
      'sockact dies of it, the program gets only the death signal',
    async () => {
      // A core file, if the machine writes one, goes to a private directory.
      const { dir, cleanup } = tempDir();
      try {
        const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, REPORTER], { cwd: dir });
        await r.waitFor('stdout', /ready\n/);
        r.child.kill('SIGABRT');
        expect(await r.ended('SIGABRT')).toEqual({ code: null, signal: 'SIGABRT' });
        // The reporter does not handle SIGABRT: passed on, it would have killed it silently. It
        // lives to report the SIGTERM the launcher's death sends it (PR_SET_PDEATHSIG).
        // (Under load a second SIGTERM may land while the first is being printed.)
        await r.waitFor('stdout', /got SIGTERM/);
        expect(r.stdout).toMatch(/^ready\ngot SIGTERM/);
      } finally {
        cleanup();
      }
    },
  );

  it('SIGINT and SIGQUIT to sockact reach the program once each, as the signal they are', async () => {
    for (const sig of ['SIGINT', 'SIGQUIT'] as const) {
      const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, REPORTER, sig]);
      await r.waitFor('stdout', /ready\n/);
      r.child.kill(sig);
      expect(await r.ended(sig)).toEqual({ code: 0, signal: null });
      expect(r.stdout).toBe(`ready\ngot ${sig}\n`);
    }
  });

  it('SIGHUP reloads: a new generation starts on the same socket, then the old one gets SIGTERM', async () => {
    const r = sockact(['-l', '127.0.0.1:0', '--ready', '200ms', '--', PYTHON, REPORTER]);
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
    // Counts deliveries at the C level (see the fixture).
    const counter = join(import.meta.dirname, 'fixtures/group-signal-counter.py');
    const r = run('setsid', [
      'sh',
      '-c',
      '"$@" & wait',
      'sh',
      process.execPath,
      SOCKACT,
      '-l',
      '127.0.0.1:0',
      '--',
      PYTHON,
      counter,
    ]);
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
      const r = run('sh', ['-c', script, 'sh', process.execPath, SOCKACT, '-l', '127.0.0.1:0', '--', PYTHON, SLEEPER]);
      await r.waitFor('stdout', /ready\n/);
      const pid = startedPid((await r.waitFor('stderr', /started .* as pid \d+/))[0]);
      process.kill(pid, sig);
      await r.ended(`${sig} to the program`);
      expect(r.stdout).toBe(`ready\nstatus=${128 + constants.signals[sig]}\n`);
      expect(r.stderr).toContain(`sockact: pid ${pid} killed by ${sig}`);
    },
  );

  it('ends by the forwarded signal itself: SIGTERM to sockact stops the program and sockact', async () => {
    const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, SLEEPER]);
    await r.waitFor('stdout', /ready\n/);
    r.child.kill('SIGTERM');
    expect(await r.ended('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('exits 128+N for a signal that dumps core, instead of dumping a core of its own', async () => {
    const r = sockact(['-l', '127.0.0.1:0', '--', PYTHON, SLEEPER]);
    await r.waitFor('stdout', /ready\n/);
    const pid = startedPid((await r.waitFor('stderr', /started .* as pid \d+/))[0]);
    process.kill(pid, 'SIGQUIT');
    expect(await r.ended('SIGQUIT')).toEqual({ code: 128 + constants.signals.SIGQUIT, signal: null });
  });

  it(
    'takes a Ctrl-C under npm as one stop, not two: ' +
      'the SIGINT its process group gets and the one its parent passes on',
    async () => {
      // npm (@npmcli/run-script) passes SIGINT on to the script it runs, and the terminal sends it
      // to the whole foreground group as well, so sockact gets it twice at once. The parent here
      // is a shell doing what npm does; the program takes half a second to drain. A second stop
      // would SIGKILL it mid-drain: no "drained", and the shell would see 137.
      const program =
        'trap "echo got INT; sleep 0.5; echo drained; exit 0" INT; echo ready; while :; do sleep 0.05; done';
      const parent = '"$@" & pid=$!; trap \'kill -INT $pid\' INT; wait $pid; wait $pid; echo "status=$?"';
      const r = run('setsid', [
        'sh',
        '-c',
        parent,
        'sh',
        process.execPath,
        SOCKACT,
        '-l',
        '127.0.0.1:0',
        '--',
        'sh',
        '-c',
        program,
      ]);
      await r.waitFor('stdout', /ready\n/);
      process.kill(-r.child.pid!, 'SIGINT');
      await r.ended('SIGINT to the process group');
      expect(r.stdout).toBe('ready\ngot INT\ndrained\nstatus=0\n');
    },
  );

  it('lets a Ctrl-C in a terminal reach the program once, not twice', async () => {
    // A real pseudo-terminal: sockact and its child form the foreground process group, and ^C
    // makes the kernel send SIGINT to both. The child counts the SIGINTs it got, then asks its
    // parent (sockact) for a SIGUSR1; sockact handles signals in order, so a forwarded SIGINT
    // would have reached the child before the forwarded SIGUSR1 does.
    const child = join(import.meta.dirname, 'fixtures/sigint-counter.py');
    const driver = join(import.meta.dirname, 'fixtures/pty-ctrl-c.py');
    const r = run(PYTHON, [driver, process.execPath, SOCKACT, '-q', '-l', '127.0.0.1:0', '--', PYTHON, child]);
    await r.exited;
    expect(r.stdout).toMatch(/sigint count 1\r?\n/);
    expect(r.stdout).toMatch(/exit 0\n$/);
  });
});
