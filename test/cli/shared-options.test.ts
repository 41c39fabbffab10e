// The options sockact shares with systemd-socket-activate mean the same: each case runs both
// (252, which waits for a connection and then execs the program) with the same words, and
// compares what the program gets: how many fds, their names, their addresses, the -E variables.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { perTest, PYTHON, SOCKACT } from '../_support/launcher.js';
import { WAIT_TIMEOUT } from '../_support/wait.js';

const SA = '/usr/bin/systemd-socket-activate';
const { defer, dir } = perTest();

/** The program: one JSON line with what it was given. */
const REPORT = join(import.meta.dirname, 'fixtures/launch-report.py');

interface Report {
  fds: number;
  names: string | null;
  addrs: string[];
  env: Record<string, string | null>;
}

/**
 * Run `argv` with REPORT as the program, connect once to each of `wake` in turn (as each
 * appears: systemd-socket-activate binds, then waits for a connection), and return the report.
 */
async function report(argv: string[], wake: string[]): Promise<Report> {
  const child = spawn(argv[0]!, [...argv.slice(1), PYTHON, REPORT], { stdio: ['ignore', 'pipe', 'pipe'] });
  defer(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise((res) => child.on('exit', res));
  for (const path of wake) {
    for (let i = 0; i < 200 && !existsSync(path) && child.exitCode === null; i++)
      await new Promise((r) => setTimeout(r, 25));
    await new Promise<void>((res) => {
      const c = connect({ path }, () => res());
      c.on('error', () => res()); // a launcher that did not wait may be gone already
      defer(() => c.destroy());
    });
  }
  // The report's line, or the program's end: events, not a count of polls (a busy machine can
  // take seconds to start Python).
  await new Promise<void>((res) => {
    const done = () => (out.includes('\n') || child.exitCode !== null) && res();
    child.stdout.on('data', done);
    child.on('exit', res);
    const t = setTimeout(res, 2 * WAIT_TIMEOUT);
    defer(() => clearTimeout(t));
    done();
  });
  child.kill('SIGTERM'); // accept mode keeps the launcher running
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((_, rej) => {
    timer = setTimeout(
      () => rej(new Error(`${argv.join(' ')}: still running ${WAIT_TIMEOUT} ms after SIGTERM\n${err}`)),
      WAIT_TIMEOUT,
    );
  });
  await Promise.race([exited, late]).finally(() => clearTimeout(timer));
  if (!out.includes('\n')) throw new Error(`${argv.join(' ')}: no report\n${err}`);
  return JSON.parse(out.split('\n')[0]!) as Report;
}

const sockact = (...args: string[]) => [process.execPath, SOCKACT, '-q', ...args];
const peer = (...args: string[]) => [SA, ...args];

/** Both launchers with the same words; paths are per run so the two never meet. */
async function both(words: (d: string) => string[], wake: (d: string) => string[]): Promise<[Report, Report]> {
  const a = dir();
  const b = dir();
  const ours = await report(sockact(...words(a)), wake(a));
  const theirs = await report(peer(...words(b)), wake(b));
  // Addresses differ by directory only.
  ours.addrs = ours.addrs.map((p) => p.replace(a, 'D'));
  theirs.addrs = theirs.addrs.map((p) => p.replace(b, 'D'));
  return [ours, theirs];
}

describe.runIf(existsSync(SA))('options shared with systemd-socket-activate 252, side by side', () => {
  it(
    'attached values (-l/path, -EFOO=1), abbreviations (--liste=), ' + 'a value that starts with - (--fdname -web)',
    async () => {
      const [ours, theirs] = await both(
        (d) => [`-l${join(d, 'a.sock')}`, `--liste=${join(d, 'b.sock')}`, '-EFOO=1', '--fdname', '-web'],
        (d) => [join(d, 'a.sock')],
      );
      expect(ours).toEqual({
        fds: 2,
        names: '-web:-web',
        addrs: ['D/a.sock', 'D/b.sock'],
        env: { FOO: '1', SOCKACT_TEST_UNSET: null },
      });
      expect(ours).toEqual(theirs);
    },
  );

  it('a path with a comma binds that path', async () => {
    const [ours, theirs] = await both(
      (d) => ['-l', join(d, 'a,b.sock')],
      (d) => [join(d, 'a,b.sock')],
    );
    expect(ours.addrs).toEqual(['D/a,b.sock']);
    expect(ours).toEqual(theirs);
  });

  it('-E NAME with NAME unset passes NAME=', async () => {
    delete process.env.SOCKACT_TEST_UNSET;
    const [ours, theirs] = await both(
      (d) => ['-l', join(d, 'a.sock'), '-E', 'SOCKACT_TEST_UNSET'],
      (d) => [join(d, 'a.sock')],
    );
    expect(ours.env.SOCKACT_TEST_UNSET).toBe('');
    expect(ours).toEqual(theirs);
  });

  it('--fdname= is one empty name: LISTEN_FDNAMES=', async () => {
    const [ours, theirs] = await both(
      (d) => ['-l', join(d, 'a.sock'), '--fdname='],
      (d) => [join(d, 'a.sock')],
    );
    expect(ours.names).toBe('');
    expect(ours).toEqual(theirs);
  });

  it('-a --fdname x names each connection x', async () => {
    const [ours, theirs] = await both(
      (d) => ['-a', '-l', join(d, 'a.sock'), '--fdname', 'x'],
      (d) => [join(d, 'a.sock')],
    );
    expect(ours).toMatchObject({ fds: 1, names: 'x' });
    expect(ours).toEqual(theirs);
  });

  it('one --fdname names the inherited fds too', async () => {
    // The outer launcher passes one socket; the inner one binds another and names them all.
    const a = dir();
    const b = dir();
    const inner = (d: string) => ['-l', join(d, 'inner.sock'), '--fdname', 'x'];
    const mine = await report(
      [...sockact('-l', join(a, 'outer.sock'), '--fdname', 'o'), ...sockact(...inner(a))],
      [join(a, 'outer.sock'), join(a, 'inner.sock')],
    );
    const sa = await report(
      [...peer('-l', join(b, 'outer.sock'), '--fdname', 'o'), ...peer(...inner(b))],
      [join(b, 'outer.sock'), join(b, 'inner.sock')],
    );
    expect(mine).toMatchObject({ fds: 2, names: 'x:x' });
    expect(mine.names).toBe(sa.names);
  });
});

describe('--fdname counts every fd, inherited ones first', () => {
  it(
    'refuses names that do not fit, before binding anything, ' + 'and takes one per fd with an inherited one first',
    async () => {
      const d = dir();
      const wrong = spawn(process.execPath, [SOCKACT, '-l', join(d, 'a.sock'), '--fdname', 'a:b:c', 'true'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      wrong.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      expect(await new Promise((res) => wrong.on('close', res))).toBe(2);
      expect(err.split('\n')[0]).toBe('sockact: --fdname gives 3 names for 1 socket: give one name, or one per socket');
      expect(existsSync(join(d, 'a.sock'))).toBe(false);
      const r = await report(
        [...sockact('-l', join(d, 'outer.sock')), ...sockact('-l', join(d, 'inner.sock'), '--fdname', 'o:i')],
        [],
      );
      expect(r).toMatchObject({ fds: 2, names: 'o:i', addrs: [join(d, 'outer.sock'), join(d, 'inner.sock')] });
    },
  );
});
