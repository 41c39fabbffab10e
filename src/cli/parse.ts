import { constants } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { parseListen, parseMode, type SocketOptions, type ListenSpec } from '../protocol/address.js';
import { quote, SockactError, usageError } from '../protocol/errors.js';
import { fdNameProblem } from '../protocol/fdname.js';
import { parseDuration } from '../protocol/duration.js';
import type { Readiness, RestartPolicy } from '../supervise/supervisor.js';
import { OPTIONS, optionsOf, SUBCOMMANDS, type OptionDef, type OptionRow } from './options.js';

/** What the command line asks the launcher to do. */
export interface RunConfig {
  specs: ListenSpec[];
  /**
   * --fdname values, split on ':' (`--fdname=` is one empty name). One name is given to every
   * socket, inherited ones too, and with --accept to every connection, as systemd-socket-activate does.
   */
  fdnames?: string[];
  program: string;
  args: string[];
  /** -E values as given (NAME or NAME=VALUE). */
  setenv: string[];
  accept: boolean;
  inetd: boolean;
  onDemand: boolean;
  /** --wrapper: also offer the sockets over the hand-off socket (launch/handoff.ts). */
  wrapper: boolean;
  /** With --accept; runAccept's default (64) when not given. */
  maxConnections?: number;
  user?: string;
  group?: string;
  quiet: boolean;
  supervise: SuperviseConfig;
  /** --fd-store: keep the sockets in systemd's fd store (also on when $FDSTORE > 0, decided at start). */
  fdStore: boolean;
  /** --daemon: detach; every relative path of the config is absolute by then (the daemon runs in /). */
  daemon: boolean;
  /** --pid-file, absolute. */
  pidFile?: string;
  /** --log-file (with --daemon only), absolute. */
  logFile?: string;
}

/** The supervisor's options (src/supervise), as given; undefined fields take its defaults. */
export interface SuperviseConfig {
  restart?: RestartPolicy;
  restartDelay?: number;
  restartDelayMax?: number;
  startLimitBurst?: number;
  startLimitInterval?: number;
  ready?: Readiness;
  readyTimeout?: number;
  stopSignal?: string;
  stopTimeout?: number;
  reloadSignal?: string;
  workers?: number;
  rolling: boolean;
  watch: string[];
  watchDebounce?: number;
  watchdog?: number;
  control?: string;
  name?: string;
  prefix: boolean;
  /** --takeover: take the sockets of the sockact at --control / --name (supervise/takeover.ts). */
  takeover?: boolean;
}

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  /** `given`: every option as given, to read by name through the table (`sockact unit` reads its own). */
  | { kind: 'run'; config: RunConfig; given: Given }
  /** A subcommand, recognised only as the first word. */
  | { kind: 'subcommand'; name: string; argv: string[] };

/** Option words to rows; the first row of a word wins (`sockact unit`'s own --name over the launcher's). */
function keyMap(defs: readonly OptionDef[]): Map<string, OptionDef> {
  const map = new Map<string, OptionDef>();
  for (const o of defs) for (const k of [o.name, ...(o.alias ?? [])]) if (!map.has(k)) map.set(k, o);
  return map;
}

/**
 * The words each command's parser knows. `sockact unit` also knows the launch options it refuses,
 * so that they are refused with the reason (UnitMapping.refused) rather than as unknown.
 */
const KEYS: Record<'launch' | 'unit' | 'control', Map<string, OptionDef>> = {
  launch: keyMap(OPTIONS),
  unit: keyMap([...optionsOf('unit'), ...OPTIONS]),
  control: keyMap(optionsOf('control')),
};

/** How an option is written in messages: -l for the ones systemd-socket-activate abbreviates too. */
function labelOf(o: OptionDef): string {
  const short = o.alias?.find((a) => a.length === 1);
  return short && o.kind === 'repeatable' ? `-${short}` : `--${o.name}`;
}

/** The choices as a message lists them: "no, on-failure or always", "direct, sockact". */
function choiceList(choices: readonly string[]): string {
  return `${choices[0]}, ${choices.slice(1).join(' or ')}`;
}

/** A duration at most LONGEST_TIMER_MS, written so that parseDuration reads it back: 2147483.647s. */
function limitText(o: OptionRow, max: number): string {
  return o.type === 'count' ? String(max) : `${max / 1000}s`;
}

function tooLarge(o: OptionRow, text: string): SockactError {
  const why = o.maxWhy ? ` (${o.maxWhy})` : '';
  return usageError(`--${o.name} '${text}': at most ${limitText(o, o.max!)}${why}`, { value: text });
}

/** A duration option's value in ms; 0 and infinity are Infinity ("no limit") where the row allows. */
function durationValue(
  o: OptionRow,
  text: string,
  expected = 'expected a time span such as 500ms, 10s or 1min',
): number {
  let ms: number;
  try {
    ms = parseDuration(text, `--${o.name}`);
  } catch {
    throw usageError(`--${o.name} '${text}': ${expected}`, { value: text });
  }
  if (o.off && (ms === 0 || ms === Infinity)) return Infinity;
  if (o.max !== undefined && !(ms <= o.max)) throw tooLarge(o, text);
  return ms;
}

/**
 * One value of option `o`, read as its row says (type, range, choices); throws a usage error (ERR_USAGE)
 * naming the option and the value, with the limit when it is out of range.
 */
export function readValue(o: OptionRow, text: string): string | number {
  const bad = (expected: string) => usageError(`--${o.name} '${text}': ${expected}`, { value: text });
  switch (o.type ?? 'text') {
    case 'count': {
      const min = o.min ?? 1;
      if (!/^\d+$/.test(text) || Number(text) < min)
        throw bad(min === 1 ? 'expected a positive whole number' : `expected a whole number of at least ${min}`);
      if (o.max !== undefined && Number(text) > o.max) throw tooLarge(o, text);
      return Number(text);
    }
    case 'duration':
      return durationValue(o, text);
    case 'readiness':
      return text === 'auto' || text === 'notify'
        ? text
        : durationValue(o, text, 'expected auto, notify or a time span such as 2s');
    case 'signal':
      return signalName(text, `--${o.name}`);
    case 'choice':
      if (!o.choices!.includes(text)) throw bad(`expected ${choiceList(o.choices!)}`);
      return text;
    case 'mode': {
      const m = parseMode(text);
      if (m === undefined) throw bad('expected an octal mode such as 0660');
      return m;
    }
    default:
      return text;
  }
}

/** The options of one command line, as given, read by name through their rows. */
export class Given {
  constructor(
    readonly keys: Map<string, OptionDef>,
    readonly words: Map<OptionDef, (string | true)[]>,
  ) {}

  row(name: string): OptionDef {
    return this.keys.get(name)!;
  }

  /** Whether the option is on the command line at all. */
  has(name: string): boolean {
    return this.words.has(this.row(name));
  }

  flag(name: string): boolean {
    return this.has(name);
  }

  texts(name: string, allowEmpty = false): string[] {
    const o = this.row(name);
    const list = (this.words.get(o) ?? []).map(String);
    if (!allowEmpty) for (const v of list) if (v === '') throw usageError(`${labelOf(o)} needs a value`);
    return list;
  }

  single(name: string): string | undefined {
    const list = this.texts(name);
    if (list.length > 1) throw usageError(`--${name} is given more than once ('${list.join("', '")}')`);
    return list[0];
  }

  /** The option's value read as its row says, or undefined when not given. */
  value<T extends string | number = string | number>(name: string): T | undefined {
    const text = this.single(name);
    return text === undefined ? undefined : (readValue(this.row(name), text) as T);
  }

  /** The options given, in the order they first appear on the command line. */
  get rows(): OptionDef[] {
    return [...this.words.keys()];
  }
}

/** The option `--word` names: an exact long name, else the one long name it abbreviates. */
function longOption(word: string, byKey: Map<string, OptionDef>): OptionDef {
  const exact = byKey.get(word);
  if (exact && word.length > 1) return exact;
  // The names `--NAME` may abbreviate: long names and long aliases (--environment).
  const candidates = [...byKey.keys()].filter((k) => k.length > 1 && k.startsWith(word));
  const defs = new Set(candidates.map((k) => byKey.get(k)!));
  if (defs.size === 1) return [...defs][0]!;
  if (defs.size === 0) throw usageError(`unknown option --${word}`, { value: word });
  // getopt_long(3)'s wording, as systemd-socket-activate prints it.
  throw usageError(`option '--${word}' is ambiguous; possibilities: ${candidates.map((k) => `'--${k}'`).join(' ')}`, {
    value: word,
  });
}

/**
 * Parse the options before PROGRAM as getopt_long(3) does for systemd-socket-activate
 * ("+hl:aE:d": stop at the first word that is not an option, so everything from PROGRAM on
 * belongs to the program, `--` or not). A value option takes the rest of its word (`-l8080`,
 * `-EFOO=1`, `--listen=8080`, `--fdname=`) or else the next word whatever it is (`--fdname -web`);
 * short flags group (`-qa`); a long option may be abbreviated to any unambiguous prefix (`--liste`).
 */
function parseOptions(argv: readonly string[], byKey: Map<string, OptionDef>): { given: Given; rest: string[] } {
  const words = new Map<OptionDef, (string | true)[]>();
  const add = (def: OptionDef, v: string | true) => words.set(def, [...(words.get(def) ?? []), v]);
  const needsValue = (def: OptionDef, i: number): string => {
    const v = argv[i];
    if (v === undefined) throw usageError(`${labelOf(def)} needs a value`);
    return v;
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      i++;
      break;
    }
    if (!word.startsWith('-') || word === '-') break;
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const def = longOption(eq < 0 ? word.slice(2) : word.slice(2, eq), byKey);
      if (def.kind === 'flag') {
        if (eq >= 0) throw usageError(`--${def.name} takes no value (got '${word.slice(eq + 1)}')`, { value: word });
        add(def, true);
      } else {
        add(def, eq >= 0 ? word.slice(eq + 1) : needsValue(def, ++i));
      }
      continue;
    }
    for (let j = 1; j < word.length; j++) {
      const def = byKey.get(word[j]!);
      if (!def) throw usageError(`unknown option -${word[j]}`, { value: word });
      if (def.kind === 'flag') {
        add(def, true);
        continue;
      }
      add(def, j + 1 < word.length ? word.slice(j + 1) : needsValue(def, ++i));
      break;
    }
  }
  return { given: new Given(byKey, words), rest: argv.slice(i) };
}

function conflict(a: string, b: string, why = ''): SockactError {
  return usageError(`${a} may not be combined with ${b}${why ? ` (${why})` : ''}`);
}

/** A signal name as kill(1) takes it: SIGTERM, TERM or sigterm; never SIGKILL or SIGSTOP, which no child can handle. */
export function signalName(text: string, option: string): string {
  const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
  if (!(name in constants.signals) || name === 'SIGKILL' || name === 'SIGSTOP') {
    throw usageError(`${option} '${text}': not a signal that can be handled (such as SIGTERM, SIGINT, SIGUSR2)`, {
      value: text,
    });
  }
  return name;
}

/** SuperviseConfig's field for a supervisor option with a value: --ready-timeout is readyTimeout. */
function superviseKey(name: string): keyof SuperviseConfig {
  if (name === 'watchdog-sec') return 'watchdog';
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof SuperviseConfig;
}

/** The supervisor's options and --control/--name, each read through its row. */
function superviseOptions(given: Given, acceptMode: boolean): SuperviseConfig {
  if (acceptMode) {
    const used = OPTIONS.find((o) => o.supervised && given.has(o.name));
    if (used)
      throw conflict(
        given.has('accept') ? '--accept' : '--inetd',
        `--${used.name}`,
        'accept mode starts one program per connection',
      );
  }
  const c: SuperviseConfig = {
    rolling: given.flag('rolling'),
    watch: given.texts('watch'),
    prefix: given.flag('prefix'),
  };
  for (const o of OPTIONS) {
    if (o.kind !== 'value' || !(o.supervised || o.name === 'control' || o.name === 'name')) continue;
    const v = given.value(o.name);
    if (v !== undefined) (c as unknown as Record<string, unknown>)[superviseKey(o.name)] = v;
  }
  if (given.flag('takeover')) {
    if (c.control === undefined && c.name === undefined)
      throw usageError('--takeover needs --control PATH or --name NAME: the sockact to take over');
    c.takeover = true;
  }
  return c;
}

/**
 * --daemon, --pid-file, --log-file. The daemon works in / (daemon(7)), so every path it is given
 * is made absolute here, while the working directory is still the caller's: -l paths already are
 * (protocol/address.ts), the program when it names a path (a bare name is looked up on PATH),
 * --watch, --control, the pid and log files. ARGS are the program's own and are passed as given.
 */
function daemonOptions(given: Given, c: RunConfig): void {
  const pidFile = given.single('pid-file');
  if (pidFile !== undefined) c.pidFile = resolve(pidFile);
  const logFile = given.single('log-file');
  if (logFile !== undefined && !c.daemon)
    throw usageError('--log-file applies to --daemon only (in the foreground, redirect stderr)');
  if (logFile !== undefined) c.logFile = resolve(logFile);
  if (!c.daemon) return;
  if (c.program.includes('/') && !isAbsolute(c.program)) c.program = resolve(c.program);
  c.supervise.watch = c.supervise.watch.map((w) => resolve(w));
  if (c.supervise.control !== undefined) c.supervise.control = resolve(c.supervise.control);
}

/** The flags that choose a mode, and the pairs of them that exclude each other (socket-activate.c's checks). */
function modeFlags(given: Given) {
  const m = {
    datagram: given.flag('datagram'),
    seqpacket: given.flag('seqpacket'),
    accept: given.flag('accept'),
    inetd: given.flag('inetd'),
    now: given.flag('now'),
    onDemand: given.flag('on-demand'),
    wrapper: given.flag('wrapper'),
  };
  if (m.datagram && m.seqpacket) throw conflict('--datagram', '--seqpacket');
  if (m.datagram && m.accept) throw conflict('--datagram', '--accept', 'datagram sockets do not accept connections');
  if (m.now && m.onDemand) throw conflict('--now', '--on-demand');
  if (m.accept && m.onDemand)
    throw conflict('--accept', '--on-demand', 'accept mode starts a program for each connection as it comes');
  if (m.wrapper && m.accept) throw conflict('--wrapper', '--accept', 'each connection goes to its own program at fd 3');
  if (m.wrapper && m.inetd) throw conflict('--wrapper', '--inetd', 'the socket is on stdin and stdout');
  return m;
}

/** The -l values, with the per-socket defaults (--backlog, --socket-mode, ...) folded in. */
function listenSpecs(given: Given, m: ReturnType<typeof modeFlags>): ListenSpec[] {
  const defaults: Partial<SocketOptions> = {};
  if (m.datagram) defaults.type = 'dgram';
  if (m.seqpacket) defaults.type = 'seqpacket';
  const backlog = given.value<number>('backlog');
  if (backlog !== undefined) defaults.backlog = backlog;
  if (given.flag('reuse-port')) defaults.reusePort = true;
  if (given.flag('freebind')) defaults.freebind = true;
  if (given.flag('remove-stale')) defaults.removeStale = true;
  if (given.flag('remove-on-exit')) defaults.removeOnExit = true;
  const mode = given.value<number>('socket-mode');
  if (mode !== undefined) defaults.mode = mode;
  const socketUser = given.single('socket-user');
  if (socketUser !== undefined) defaults.user = socketUser;
  const socketGroup = given.single('socket-group');
  if (socketGroup !== undefined) defaults.group = socketGroup;
  const specs = given.texts('listen').map((text) => {
    try {
      return parseListen(text, defaults);
    } catch (err) {
      if (!(err instanceof SockactError) || err.code !== 'ERR_LISTEN_ADDRESS') throw err;
      // Only the type default can misfit (seqpacket on an IP address): name the flag that set it.
      if (err.fromDefault === 'type') throw conflict('--seqpacket', `-l ${quote(text)}`, err.reason);
      throw usageError(err.message, { value: text, cause: err });
    }
  });
  if (m.accept) {
    const dgram = specs.find((s) => s.type === 'dgram');
    if (dgram) throw conflict('--accept', `-l '${dgram.text}'`, 'a datagram socket does not accept connections');
  }
  if (m.accept || m.inetd) {
    const named = specs.find((s) => s.name !== undefined);
    if (named) throw conflict(m.accept ? '--accept' : '--inetd', `-l '${named.text}' (name=)`);
  }
  return specs;
}

/** --fdname values split on ':', each a valid name, in a number the mode can take. */
function fdNames(given: Given, m: ReturnType<typeof modeFlags>, specs: ListenSpec[]): string[] | undefined {
  const values = given.texts('fdname', true);
  if (!values.length) return undefined;
  if (m.inetd) throw conflict('--inetd', '--fdname', 'stdin and stdout carry no names');
  const fdnames = values.flatMap((v) => v.split(':'));
  for (const n of fdnames) {
    const problem = fdNameProblem(n);
    if (problem) throw usageError(`--fdname ${quote(n)} is not a valid fd name (${problem})`, { value: n });
  }
  if (m.accept && fdnames.length > 1)
    throw conflict('--accept', `--fdname with several names`, 'each connection is one fd');
  const named = specs.find((s) => s.name !== undefined);
  if (fdnames.length > 1 && named) throw conflict('--fdname with several names', `-l '${named.text}' (name=)`);
  // The count is checked against every fd, inherited ones first, once they are known (cli/main.ts).
  return fdnames;
}

/**
 * Parse `sockact [options] [--] PROGRAM [ARGS...]` into a Command, or throw a usage error (ERR_USAGE) that
 * names the option and the value (exit 2). Conflicting options are named both. `sockact unit`
 * parses its command line here too, with its own options besides the launcher's.
 */
export function parseCommandLine(argv: readonly string[], command: 'launch' | 'unit' = 'launch'): Command {
  if (command === 'launch' && argv[0] !== undefined && SUBCOMMANDS.includes(argv[0])) {
    return { kind: 'subcommand', name: argv[0], argv: argv.slice(1) };
  }
  const { given, rest } = parseOptions(argv, KEYS[command]);
  if (given.flag('help')) return { kind: 'help' };
  if (given.flag('version')) return { kind: 'version' };
  const m = modeFlags(given);
  const specs = listenSpecs(given, m);
  const fdnames = fdNames(given, m, specs);
  const maxConnections = given.value<number>('max-connections');
  if (maxConnections !== undefined && !m.accept) throw usageError('--max-connections applies to --accept only');

  const [program, ...args] = rest;
  if (program === undefined) throw usageError('PROGRAM is missing: sockact [options] [--] PROGRAM [ARGS...]');
  const config: RunConfig = {
    specs,
    program,
    args,
    setenv: given.texts('setenv'),
    accept: m.accept,
    inetd: m.inetd,
    onDemand: m.onDemand,
    wrapper: m.wrapper,
    quiet: given.flag('quiet'),
    supervise: superviseOptions(given, m.accept || m.inetd),
    fdStore: given.flag('fd-store'),
    daemon: given.flag('daemon'),
  };
  if (config.supervise.takeover && m.onDemand)
    throw conflict('--takeover', '--on-demand', 'the old sockact serves until the new program is ready');
  if (config.supervise.workers !== undefined && config.supervise.workers > 1 && m.wrapper) {
    throw conflict('--wrapper', '--workers', 'the hand-off socket serves one program');
  }
  if (maxConnections !== undefined) config.maxConnections = maxConnections;
  if (fdnames) config.fdnames = fdnames;
  const user = given.single('user');
  if (user !== undefined) config.user = user;
  const group = given.single('group');
  if (group !== undefined) config.group = group;
  daemonOptions(given, config);
  return { kind: 'run', config, given };
}

/**
 * The options of `sockact status|reload|stop` (after the subcommand's word): --control PATH or
 * --name NAME, read through the same table and getopt rules as the launcher's. Nothing else may
 * follow: these commands take no PROGRAM.
 */
export function parseControlOptions(argv: readonly string[]): { control?: string; name?: string } {
  const { given, rest } = parseOptions(argv, KEYS.control);
  if (rest.length > 0) throw usageError(`unexpected argument ${quote(rest[0]!)}`, { value: rest[0]! });
  const control = given.single('control');
  const name = given.single('name');
  return { ...(control !== undefined ? { control } : {}), ...(name !== undefined ? { name } : {}) };
}
