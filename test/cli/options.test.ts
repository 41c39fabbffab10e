// The one option table (src/cli/options.ts): what it declares holds for the parser that reads
// every value through it. Each numeric option has a range and names its limit when refused;
// 0 and infinity switch the timeouts and the watchdog off, as in systemd.service(5); the
// defaults --help prints are the supervisor's own.
import { describe, expect, it } from 'vitest';
import { ALL_OPTIONS, LONGEST_TIMER_MS, OPTIONS, optionsOf, type CommandName } from '../../src/cli/options.js';
import { parseCommandLine, parseControlOptions, readValue, type RunConfig } from '../../src/cli/parse.js';
import { DEFAULT_MAX_CONNECTIONS } from '../../src/launch/accept.js';
import { SockactError } from '../../src/protocol/errors.js';
import { DEFAULTS } from '../../src/supervise/supervisor.js';
import { perTest, sockact } from '../_support/launcher.js';

function config(argv: string[]): RunConfig {
  const cmd = parseCommandLine(argv);
  if (cmd.kind !== 'run') throw new Error(`expected a run, got ${cmd.kind}`);
  return cmd.config;
}

function usageError(argv: string[]): string {
  try {
    parseCommandLine(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(SockactError);
    expect((err as SockactError).code).toBe('ERR_USAGE');
    return (err as Error).message;
  }
  throw new Error(`no usage error for ${JSON.stringify(argv)}`);
}

const { defer } = perTest();

const numeric = OPTIONS.filter((o) => o.type === 'count' || o.type === 'duration' || o.type === 'readiness');
/** The words before an option that make a valid command line for it (max-connections needs -a). */
const around = (name: string) => (name === 'max-connections' ? ['-a', '-l', '127.0.0.1:0'] : ['-l', '127.0.0.1:0']);

describe('the option table', () => {
  it('names each option and short form once per command', () => {
    for (const command of ['launch', 'unit', 'control'] as CommandName[]) {
      const words = optionsOf(command).flatMap((o) => [o.name, ...(o.alias ?? [])]);
      expect(
        words.filter((w, i) => words.indexOf(w) !== i),
        command,
      ).toEqual([]);
    }
  });

  it('gives every numeric option a range, and a reason for its limit', () => {
    expect(numeric.map((o) => o.name)).toEqual(
      expect.arrayContaining(['backlog', 'workers', 'max-connections', 'start-limit-burst', 'ready-timeout']),
    );
    for (const o of ALL_OPTIONS.filter((x) => x.type === 'count' || x.type === 'duration' || x.type === 'readiness')) {
      expect(o.max, `--${o.name}`).toBeGreaterThan(0);
      expect(o.maxWhy, `--${o.name}`).toBeTruthy();
    }
  });

  it("has the supervisor's DEFAULTS as its defaults, read as a value of the option would be", () => {
    const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    let checked = 0;
    for (const [key, value] of Object.entries(DEFAULTS)) {
      if (typeof value === 'boolean') continue;
      const o = OPTIONS.find((x) => x.name === kebab(key))!;
      expect(o.default, `--${o.name}`).toBeDefined();
      expect(readValue(o, o.default!), `--${o.name}`).toBe(value);
      checked++;
    }
    expect(checked).toBe(10);
  });

  it("has accept mode's own default for --max-connections", () => {
    const o = OPTIONS.find((x) => x.name === 'max-connections')!;
    expect(readValue(o, o.default!)).toBe(DEFAULT_MAX_CONNECTIONS);
  });
});

describe('0 and infinity switch a limit off', () => {
  const keys = { 'ready-timeout': 'readyTimeout', 'stop-timeout': 'stopTimeout', 'watchdog-sec': 'watchdog' } as const;
  for (const [name, key] of Object.entries(keys)) {
    it.each(['0', '0s', '0ms', 'infinity'])(`--${name} %s is Infinity (no limit)`, (text) => {
      expect(config([`--${name}`, text, '-l', '1', 'p']).supervise[key]).toBe(Infinity);
    });
    it(`--${name} keeps a finite value as given`, () => {
      expect(config([`--${name}`, '1.5s', '-l', '1', 'p']).supervise[key]).toBe(1500);
    });
  }

  it('elsewhere infinity is out of range, and 0 keeps its own meaning', () => {
    expect(usageError(['--restart-delay', 'infinity', '-l', '1', 'p'])).toBe(
      "--restart-delay 'infinity': at most 2147483.647s (about 24.8 days, the longest timer Node sets)",
    );
    expect(config(['--restart-delay', '0', '-l', '1', 'p']).supervise.restartDelay).toBe(0);
    expect(config(['--start-limit-interval', '0', '-l', '1', 'p']).supervise.startLimitInterval).toBe(0);
  });
});

describe('ranges', () => {
  it.each(numeric.map((o) => [o.name, o] as const))(
    '--%s: its limit is accepted, one more is refused naming the limit',
    (name, o) => {
      const atMost = o.type === 'count' ? String(o.max) : `${o.max! / 1000}s`;
      const over = o.type === 'count' ? String(o.max! + 1) : `${(o.max! + 1) / 1000}s`;
      expect(() => parseCommandLine([...around(name), `--${name}`, atMost, 'p'])).not.toThrow();
      expect(usageError([...around(name), `--${name}`, over, 'p'])).toBe(
        `--${name} '${over}': at most ${atMost} (${o.maxWhy})`,
      );
    },
  );

  it('durations stop at the longest timer Node sets', () => {
    expect(LONGEST_TIMER_MS).toBe(2 ** 31 - 1);
    expect(usageError(['--ready', '30d', '-l', '1', 'p'])).toMatch(/^--ready '30d': at most 2147483\.647s/);
  });

  it.each<[string[], string]>([
    [['--workers', '99999999'], "--workers '99999999': at most 1024 (one process each)"],
    [['--workers', '0'], "--workers '0': expected a positive whole number"],
    [['--start-limit-burst', '-1'], "--start-limit-burst '-1': expected a positive whole number"],
    [['--backlog', '99999999999'], "--backlog '99999999999': at most 2147483647 (listen(2) takes an int)"],
    [['-a', '--max-connections', '1000000'], "--max-connections '1000000': at most 32768"],
    [['--stop-timeout', 'soon'], "--stop-timeout 'soon': expected a time span such as 500ms, 10s or 1min"],
    [['--stop-signal', 'SIGKILL'], "--stop-signal 'SIGKILL': not a signal that can be handled"],
  ])('%j', (argv, message) => {
    expect(usageError([...argv, '-l', '1', 'p'])).toContain(message);
  });

  it('a value out of range is one line and exit 2, before anything is bound', async () => {
    const r = sockact(['--workers', '99999999', '-l', '127.0.0.1:0', 'true']);
    defer(() => r.child.kill('SIGKILL')); // a sockact that took the value would grow without end
    expect(await r.ended('its usage error')).toEqual({ code: 2, signal: null });
    expect(r.stderr).toBe(
      "sockact: --workers '99999999': at most 1024 (one process each)\nTry 'sockact --help' for more information.\n",
    );
  });
});

describe('sockact status|reload|stop: --control and --name from the same table', () => {
  it.each<[string[], { control?: string; name?: string }]>([
    [[], {}],
    [['--name', 'web'], { name: 'web' }],
    [['--control=/run/x.sock'], { control: '/run/x.sock' }],
    // getopt_long's abbreviations, as for the launcher.
    [['--na', 'web', '--cont', '/run/x.sock'], { name: 'web', control: '/run/x.sock' }],
  ])('%j', (argv, expected) => {
    expect(parseControlOptions(argv)).toEqual(expected);
  });

  it.each<[string[], string]>([
    [['--workers', '2'], 'unknown option --workers'],
    [['--name'], '--name needs a value'],
    [['--name', 'a', '--name', 'b'], "--name is given more than once ('a', 'b')"],
    [['web'], "unexpected argument 'web'"],
  ])('refuses %j', (argv, message) => {
    expect(() => parseControlOptions(argv)).toThrow(message);
  });

  it('says so in one line, exit 2', async () => {
    const r = sockact(['status', '--bogus']);
    expect(await r.ended('its usage error')).toEqual({ code: 2, signal: null });
    expect(r.stderr).toBe(
      'sockact: unknown option --bogus: sockact status|reload|stop [--control PATH | --name NAME]\n',
    );
  });
});
