import { describe, expect, it } from 'vitest';
import { parseCommandLine, type RunConfig } from '../../src/cli/parse.js';
import { SockactError } from '../../src/protocol/errors.js';

function config(argv: string[]): RunConfig {
  const cmd = parseCommandLine(argv);
  if (cmd.kind !== 'run') throw new Error(`expected a run, got ${cmd.kind}`);
  return cmd.config;
}

function usageError(argv: string[]): SockactError {
  try {
    parseCommandLine(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(SockactError);
    expect((err as SockactError).code).toBe('ERR_USAGE');
    expect((err as SockactError).exitCode).toBe(2);
    return err as SockactError;
  }
  throw new Error(`no usage error for ${JSON.stringify(argv)}`);
}

describe('parseCommandLine: PROGRAM and its arguments', () => {
  it.each<[string[], string, string[]]>([
    // Everything after PROGRAM is the program's, options included, without --.
    [['-l', '8080', 'node', 'server.js', '--port', '3'], 'node', ['server.js', '--port', '3']],
    // -- ends sockact's options; what follows is PROGRAM even when it looks like an option.
    [['-l', '8080', '--', '-weird', '-l', 'x'], '-weird', ['-l', 'x']],
    // A -- after PROGRAM belongs to PROGRAM.
    [['-l', '8080', 'prog', '--', '-x'], 'prog', ['--', '-x']],
    [['-l', '8080', '--', 'prog', '--', '-x'], 'prog', ['--', '-x']],
    // Flags do not take PROGRAM as a value; numbers in ARGS stay text.
    [['-d', '-l', '[::1]:0', 'prog', '007', '1e3'], 'prog', ['007', '1e3']],
    // Not even a program named true or false (getopt, and so systemd-socket-activate, runs it).
    [['-l', '8080', '-q', 'true'], 'true', []],
    [['-l', '8080', '--on-demand', 'false', '-x'], 'false', ['-x']],
    [['-l', '8080', '-qd', 'true', 'false'], 'true', ['false']],
    // A value option still takes either as its value.
    [['-E', 'A', '-l', '8080', '--fdname', 'true', 'prog'], 'prog', []],
    // Attached and grouped short forms.
    [['-ql8080', 'prog'], 'prog', []],
    [['--listen=8080', 'prog', '-q'], 'prog', ['-q']],
    // A lone '-' is a word, not an option: PROGRAM (getopt does the same).
    [['-l', '8080', '-', 'x'], '-', ['x']],
  ])('%j', (argv, program, args) => {
    const c = config(argv);
    expect(c.program).toBe(program);
    expect(c.args).toEqual(args);
  });

  it('reads the getopt_long forms systemd-socket-activate accepts', () => {
    // Attached values, to short and long options.
    const c = config(['-l127.0.0.1:8080', '-EFOO=1', '--listen=/tmp/a.sock', '-E', 'B', '--setenv=C=', 'prog']);
    expect(c.specs.map((s) => s.text)).toEqual(['127.0.0.1:8080', '/tmp/a.sock']);
    expect(c.setenv).toEqual(['FOO=1', 'B', 'C=']);
    // A required value is the next word whatever it is, even one that starts with '-'.
    expect(config(['--fdname', '-web', '-l', '1', 'p']).fdnames).toEqual(['-web']);
    expect(config(['-l', '1', '-E', '-q', 'p']).setenv).toEqual(['-q']);
    expect(config(['-l', '1', '-E', '--', 'p'])).toMatchObject({ setenv: ['--'], program: 'p' });
    // Unambiguous abbreviations of long options and aliases; an exact name wins over a longer one.
    const a = config(['--liste=127.0.0.1:1', '--lis', '127.0.0.1:2', '--acc', '--q', '--env', 'X=1', '--set=Y=2', 'p']);
    expect(a.specs.map((s) => s.text)).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    expect(a).toMatchObject({ accept: true, quiet: true, setenv: ['X=1', 'Y=2'] });
    expect(config(['--user', 'u', '-l', '1', 'p']).user).toBe('u');
    // --fdname= is one empty name, as systemd-socket-activate reads it (LISTEN_FDNAMES=).
    expect(config(['--fdname=', '-l', '1', 'p']).fdnames).toEqual(['']);
  });

  it('collects repeatable options in order', () => {
    const c = config([
      '-l',
      '127.0.0.1:0',
      '--listen',
      '/tmp/x.sock',
      '-E',
      'A=1',
      '--setenv=B',
      '--environment',
      'C=3',
      'prog',
    ]);
    expect(c.specs.map((s) => s.text)).toEqual(['127.0.0.1:0', '/tmp/x.sock']);
    expect(c.setenv).toEqual(['A=1', 'B', 'C=3']);
  });

  it('starts at once by default and with --now; waits with --on-demand', () => {
    expect(config(['-l', '1', 'p']).onDemand).toBe(false);
    expect(config(['--now', '-l', '1', 'p']).onDemand).toBe(false);
    expect(config(['--on-demand', '-l', '1', 'p']).onDemand).toBe(true);
  });

  it('lets a -l value choose its own type against --seqpacket or -d', () => {
    expect(config(['--seqpacket', '-l', '/x', '-l', '127.0.0.1:0,stream', 'p']).specs.map((s) => s.type)).toEqual([
      'seqpacket',
      'stream',
    ]);
    expect(config(['-d', '-l', '/x', '-l', '127.0.0.1:0,stream', 'p']).specs.map((s) => s.type)).toEqual([
      'dgram',
      'stream',
    ]);
  });

  it('reads the flags', () => {
    const c = config([
      '-a',
      '--inetd',
      '--max-connections',
      '3',
      '-q',
      '-l',
      '0',
      '--user',
      'nobody',
      '--group',
      'nogroup',
      'cat',
    ]);
    expect(c).toMatchObject({
      accept: true,
      inetd: true,
      maxConnections: 3,
      quiet: true,
      user: 'nobody',
      group: 'nogroup',
      onDemand: false,
      wrapper: false,
    });
    expect(config(['--wrapper', '-l', '0', 'npm', 'start']).wrapper).toBe(true);
  });

  it('gives global socket flags to every -l as defaults', () => {
    const c = config([
      '--backlog',
      '7',
      '--socket-mode',
      '0600',
      '--remove-stale',
      '-l',
      '/tmp/a.sock',
      '-l',
      '127.0.0.1:0,backlog=9',
      'p',
    ]);
    expect(c.specs[0]).toMatchObject({ backlog: 7, mode: 0o600, removeStale: true });
    expect(c.specs[1]).toMatchObject({ backlog: 9, removeStale: false });
    expect(c.specs[1]!.mode).toBeUndefined();
  });

  it('takes one --fdname with --accept: each connection gets that name, as with systemd-socket-activate', () => {
    expect(config(['-a', '--fdname', 'x', '-l', '1', 'p'])).toMatchObject({ accept: true, fdnames: ['x'] });
  });

  it('splits --fdname on colons and joins repeated ones', () => {
    expect(config(['-l', '1', '-l', '2', '-l', '3', '--fdname', 'a:b', '--fdname', 'c', 'p']).fdnames).toEqual([
      'a',
      'b',
      'c',
    ]);
    // One name is copied to every socket later (systemd-socket-activate does so).
    expect(config(['-l', '1', '-l', '2', '--fdname', 'web', 'p']).fdnames).toEqual(['web']);
  });

  it('answers --help and --version', () => {
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['-h', '-l', 'bad'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
  });
});

describe('parseCommandLine: usage errors (exit 2) name the option and the value', () => {
  it.each<[string[], string]>([
    [['-l', '8080'], 'PROGRAM is missing'],
    [[], 'PROGRAM is missing'],
    [['--bogus', 'prog'], 'unknown option --bogus'],
    [['-x', 'prog'], 'unknown option -x'],
    // --no-X is not a thing here: every flag is off by default.
    [['--no-now', 'prog'], 'unknown option --no-now'],
    [['-l'], '-l needs a value'],
    [['-l', '127.0.0.1:99999', 'p'], "-l '127.0.0.1:99999': port 99999 is out of range"],
    [['-l', 'localhost:80', 'p'], "-l 'localhost:80': 'localhost' is not an IP address"],
    [['--now=later', '-l', '1', 'p'], "--now takes no value (got 'later')"],
    [['--acc=1', '-l', '1', 'p'], "--accept takes no value (got '1')"],
    // Ambiguous abbreviations name the candidates, in getopt_long's words.
    [['--se', 'x', 'p'], "option '--se' is ambiguous; possibilities: '--seqpacket' '--setenv'"],
    [
      ['--remove', '-l', '/x', 'p'],
      "option '--remove' is ambiguous; possibilities: '--remove-stale' '--remove-on-exit'",
    ],
    [['-l', '1', '--fdname'], '--fdname needs a value'],
    [['-ql'], '-l needs a value'],
    [['--user', 'a', '--user', 'b', '-l', '1', 'p'], "--user is given more than once ('a', 'b')"],
    [['--backlog', 'lots', '-l', '1', 'p'], "--backlog 'lots': expected a positive whole number"],
    [['--socket-mode', '888', '-l', '/x', 'p'], "--socket-mode '888': expected an octal mode"],
    [['--max-connections', '3', '-l', '1', 'p'], '--max-connections applies to --accept only'],
    [['-a', '--max-connections', '0', '-l', '1', 'p'], "--max-connections '0': expected a positive whole number"],
    [['--fdname', 'a\tb', '-l', '1', 'p'], "--fdname 'a\\x09b' is not a valid fd name"],
  ])('%j', (argv, message) => {
    expect(usageError(argv).message).toContain(message);
  });

  it.each<[string[], string]>([
    // Conflicts name both options, as systemd-socket-activate does.
    [['-d', '--seqpacket', '-l', '/x', 'p'], '--datagram may not be combined with --seqpacket'],
    [
      ['-d', '-a', '-l', '1', 'p'],
      '--datagram may not be combined with --accept (datagram sockets do not accept connections)',
    ],
    [['-a', '-l', '[::1]:0,dgram', 'p'], "--accept may not be combined with -l '[::1]:0,dgram'"],
    [['--now', '--on-demand', '-l', '1', 'p'], '--now may not be combined with --on-demand'],
    // Accept mode has nothing to wait for: each connection starts a program as it comes.
    [['-a', '--on-demand', '-l', '1', 'p'], '--accept may not be combined with --on-demand'],
    [['--wrapper', '-a', '-l', '1', 'p'], '--wrapper may not be combined with --accept'],
    [['--wrapper', '--inetd', '-l', '1', 'p'], '--wrapper may not be combined with --inetd'],
    // --seqpacket is a default for every -l; an IP address cannot take it (systemd-socket-activate: AF_UNIX only).
    [
      ['--seqpacket', '-l', '/x', '-l', '[::1]:0', 'p'],
      "--seqpacket may not be combined with -l '[::1]:0' (seqpacket sockets need a UNIX address: /path or @name)",
    ],
    [
      ['-a', '--fdname', 'x:y', '-l', '1', 'p'],
      '--accept may not be combined with --fdname with several names (each connection is one fd)',
    ],
    [['--inetd', '--fdname', 'x', '-l', '1', 'p'], '--inetd may not be combined with --fdname'],
    [['-a', '-l', '1,name=x', 'p'], "--accept may not be combined with -l '1,name=x' (name=)"],
    [
      ['--fdname', 'a:b', '-l', '1,name=x', '-l', '2', 'p'],
      "--fdname with several names may not be combined with -l '1,name=x'",
    ],
  ])('%j', (argv, message) => {
    expect(usageError(argv).message).toContain(message);
  });
});

describe('parseCommandLine: --daemon, --pid-file, --log-file, --fd-store', () => {
  const cwd = process.cwd();

  it('makes every path the daemon is given absolute, against the directory it was started in', () => {
    const c = config([
      '--daemon',
      '--pid-file',
      'run/x.pid',
      '--log-file',
      'x.log',
      '--watch',
      'src',
      '--control',
      'c.sock',
      '-l',
      './a.sock',
      '--',
      './bin/app',
      'rel/arg',
    ]);
    expect(c).toMatchObject({
      daemon: true,
      pidFile: `${cwd}/run/x.pid`,
      logFile: `${cwd}/x.log`,
      program: `${cwd}/bin/app`,
      args: ['rel/arg'],
    });
    expect(c.supervise).toMatchObject({ watch: [`${cwd}/src`], control: `${cwd}/c.sock` });
    expect(c.specs[0]!.address).toEqual({ family: 'unix', path: `${cwd}/a.sock` });
  });

  it('leaves a bare program name to PATH, and the foreground run as given (but the pid file absolute)', () => {
    expect(config(['--daemon', '-l', '0', 'node']).program).toBe('node');
    const c = config(['--pid-file', 'x.pid', '--watch', 'src', '-l', '0', './app']);
    expect(c).toMatchObject({ daemon: false, pidFile: `${cwd}/x.pid`, program: './app', fdStore: false });
    expect(c.supervise.watch).toEqual(['src']);
  });

  it('takes --fd-store as a flag, and refuses --log-file without --daemon', () => {
    expect(config(['--fd-store', '-l', '0', 'x']).fdStore).toBe(true);
    expect(usageError(['--log-file', 'x.log', '-l', '0', 'x']).message).toBe(
      '--log-file applies to --daemon only (in the foreground, redirect stderr)',
    );
  });
});
