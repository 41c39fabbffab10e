import { constants } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { parseListen, parseMode, parsePositiveInt, type SocketOptions, type ListenSpec } from '../protocol/address.js';
import { quote, SockactError, usageError } from '../protocol/errors.js';
import { fdNameProblem } from '../protocol/fdname.js';
import { parseDuration } from '../protocol/duration.js';
import type { Readiness, RestartPolicy } from '../supervise/supervisor.js';
import { OPTIONS, SUBCOMMANDS, type OptionDef } from './options.js';

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
  /** `extra`: the values of the caller's extra options (parseCommandLine's second argument), by name. */
  | { kind: 'run'; config: RunConfig; extra: Map<string, unknown[]> }
  /** A subcommand, recognised only as the first word. */
  | { kind: 'subcommand'; name: string; argv: string[] };

/** Where a subcommand (`sockact unit`) declares options of its own besides the launch options. */
export type ExtraOption = Pick<OptionDef, 'name' | 'alias' | 'kind'>;

/** Option words to definitions; the first definition of a word wins (the launch table's). */
function keyMap(defs: readonly ExtraOption[]): Map<string, ExtraOption> {
  const map = new Map<string, ExtraOption>();
  for (const o of defs) for (const k of [o.name, ...(o.alias ?? [])]) if (!map.has(k)) map.set(k, o);
  return map;
}

const BY_KEY = keyMap(OPTIONS) as Map<string, OptionDef>;

/** How an option is written in messages: -l for the ones systemd-socket-activate abbreviates too. */
function labelOf(name: string): string {
  const o = BY_KEY.get(name)!;
  const short = o.alias?.find((a) => a.length === 1);
  return short && o.kind === 'repeatable' ? `-${short}` : `--${o.name}`;
}

/** The option `--word` names: an exact long name, else the one long name it abbreviates. */
function longOption(word: string, byKey: Map<string, ExtraOption>): ExtraOption {
  const exact = byKey.get(word);
  if (exact && word.length > 1) return exact;
  // The names `--NAME` may abbreviate: long names and long aliases (--environment).
  const candidates = [...byKey.keys()].filter((k) => k.length > 1 && k.startsWith(word));
  const defs = new Set(candidates.map((k) => byKey.get(k)!));
  if (defs.size === 1) return [...defs][0]!;
  if (defs.size === 0) throw usageError(`unknown option --${word}`, { value: word });
  // getopt_long(3)'s wording, as systemd-socket-activate prints it.
  throw usageError(`option '--${word}' is ambiguous; possibilities: ${candidates.map((k) => `'--${k}'`).join(' ')}`, { value: word });
}

/**
 * Parse the options before PROGRAM as getopt_long(3) does for systemd-socket-activate
 * ("+hl:aE:d": stop at the first word that is not an option, so everything from PROGRAM on
 * belongs to the program, `--` or not). A value option takes the rest of its word (`-l8080`,
 * `-EFOO=1`, `--listen=8080`, `--fdname=`) or else the next word whatever it is (`--fdname -web`);
 * short flags group (`-qa`); a long option may be abbreviated to any unambiguous prefix (`--liste`).
 */
function parseOptions(argv: readonly string[], byKey: Map<string, ExtraOption>): { values: Map<ExtraOption, unknown[]>; rest: string[] } {
  const values = new Map<ExtraOption, unknown[]>();
  const add = (def: ExtraOption, v: unknown) => values.set(def, [...(values.get(def) ?? []), v]);
  const needsValue = (def: ExtraOption, i: number): string => {
    const v = argv[i];
    if (v === undefined) throw usageError(`${BY_KEY.has(def.name) ? labelOf(def.name) : `--${def.name}`} needs a value`);
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
  return { values, rest: argv.slice(i) };
}

function flag(values: Map<OptionDef, unknown[]>, name: string): boolean {
  return values.has(BY_KEY.get(name)!);
}

function texts(values: Map<OptionDef, unknown[]>, name: string, allowEmpty = false): string[] {
  const list = (values.get(BY_KEY.get(name)!) ?? []).map(String);
  if (!allowEmpty) for (const v of list) if (v === '') throw usageError(`${labelOf(name)} needs a value`);
  return list;
}

function single(values: Map<OptionDef, unknown[]>, name: string): string | undefined {
  const list = texts(values, name);
  if (list.length > 1) throw usageError(`--${name} is given more than once ('${list.join("', '")}')`);
  return list[0];
}

function positiveInt(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const n = parsePositiveInt(text);
  if (n === undefined) throw usageError(`--${name} '${text}': expected a positive whole number`, { value: text });
  return n;
}

function conflict(a: string, b: string, why = ''): SockactError {
  return usageError(`${a} may not be combined with ${b}${why ? ` (${why})` : ''}`);
}

function duration(values: Map<OptionDef, unknown[]>, name: string): number | undefined {
  const text = single(values, name);
  if (text === undefined) return undefined;
  try {
    return parseDuration(text, `--${name}`);
  } catch {
    throw usageError(`--${name} '${text}': expected a time span such as 500ms, 10s or 1min`, { value: text });
  }
}

/** A signal name as kill(1) takes it: SIGTERM, TERM or sigterm. */
export function signalName(text: string, option: string): string {
  const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
  if (!(name in constants.signals) || name === 'SIGKILL' || name === 'SIGSTOP') {
    throw usageError(`${option} '${text}': not a signal that can be handled (such as SIGTERM, SIGINT, SIGUSR2)`, { value: text });
  }
  return name;
}

const SUPERVISOR_OPTIONS = [
  'restart',
  'restart-delay',
  'restart-delay-max',
  'start-limit-burst',
  'start-limit-interval',
  'ready',
  'ready-timeout',
  'stop-signal',
  'stop-timeout',
  'reload-signal',
  'workers',
  'rolling',
  'watch',
  'watch-debounce',
  'watchdog-sec',
  'prefix',
  'takeover',
];

function superviseOptions(values: Map<OptionDef, unknown[]>, acceptMode: boolean): SuperviseConfig {
  if (acceptMode) {
    const used = SUPERVISOR_OPTIONS.find((n) => values.has(BY_KEY.get(n)!));
    if (used) throw conflict(values.has(BY_KEY.get('accept')!) ? '--accept' : '--inetd', `--${used}`, 'accept mode starts one program per connection');
  }
  const c: SuperviseConfig = { rolling: flag(values, 'rolling'), watch: texts(values, 'watch'), prefix: flag(values, 'prefix') };
  const restart = single(values, 'restart');
  if (restart !== undefined) {
    if (restart !== 'no' && restart !== 'on-failure' && restart !== 'always') {
      throw usageError(`--restart '${restart}': expected no, on-failure or always`, { value: restart });
    }
    c.restart = restart;
  }
  const set = <K extends keyof SuperviseConfig>(key: K, v: SuperviseConfig[K] | undefined) => {
    if (v !== undefined) c[key] = v;
  };
  set('restartDelay', duration(values, 'restart-delay'));
  set('restartDelayMax', duration(values, 'restart-delay-max'));
  set('startLimitBurst', positiveInt(single(values, 'start-limit-burst'), 'start-limit-burst'));
  set('startLimitInterval', duration(values, 'start-limit-interval'));
  const ready = single(values, 'ready');
  if (ready !== undefined) {
    if (ready === 'auto' || ready === 'notify') c.ready = ready;
    else {
      try {
        c.ready = parseDuration(ready, '--ready');
      } catch {
        throw usageError(`--ready '${ready}': expected auto, notify or a time span such as 2s`, { value: ready });
      }
    }
  }
  set('readyTimeout', duration(values, 'ready-timeout'));
  const stopSignal = single(values, 'stop-signal');
  if (stopSignal !== undefined) c.stopSignal = signalName(stopSignal, '--stop-signal');
  set('stopTimeout', duration(values, 'stop-timeout'));
  const reloadSignal = single(values, 'reload-signal');
  if (reloadSignal !== undefined) c.reloadSignal = signalName(reloadSignal, '--reload-signal');
  set('workers', positiveInt(single(values, 'workers'), 'workers'));
  set('watchDebounce', duration(values, 'watch-debounce'));
  set('watchdog', duration(values, 'watchdog-sec'));
  set('control', single(values, 'control'));
  set('name', single(values, 'name'));
  if (flag(values, 'takeover')) {
    if (c.control === undefined && c.name === undefined) throw usageError('--takeover needs --control PATH or --name NAME: the sockact to take over');
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
function daemonOptions(values: Map<OptionDef, unknown[]>, c: RunConfig): void {
  const pidFile = single(values, 'pid-file');
  if (pidFile !== undefined) c.pidFile = resolve(pidFile);
  const logFile = single(values, 'log-file');
  if (logFile !== undefined && !c.daemon) throw usageError('--log-file applies to --daemon only (in the foreground, redirect stderr)');
  if (logFile !== undefined) c.logFile = resolve(logFile);
  if (!c.daemon) return;
  if (c.program.includes('/') && !isAbsolute(c.program)) c.program = resolve(c.program);
  c.supervise.watch = c.supervise.watch.map((w) => resolve(w));
  if (c.supervise.control !== undefined) c.supervise.control = resolve(c.supervise.control);
}

/**
 * Parse `sockact [options] [--] PROGRAM [ARGS...]` into a Command, or throw a usage error (ERR_USAGE) that
 * names the option and the value (exit 2). Conflicting options are named both.
 */
export function parseCommandLine(argv: readonly string[], extra: readonly ExtraOption[] = []): Command {
  if (extra.length === 0 && argv[0] !== undefined && SUBCOMMANDS.includes(argv[0])) {
    return { kind: 'subcommand', name: argv[0], argv: argv.slice(1) };
  }
  const byKey = extra.length ? keyMap([...OPTIONS, ...extra]) : (BY_KEY as Map<string, ExtraOption>);
  const { values: parsed, rest } = parseOptions(argv, byKey);
  const values = parsed as Map<OptionDef, unknown[]>;
  if (flag(values, 'help')) return { kind: 'help' };
  if (flag(values, 'version')) return { kind: 'version' };

  const datagram = flag(values, 'datagram');
  const seqpacket = flag(values, 'seqpacket');
  const accept = flag(values, 'accept');
  const inetd = flag(values, 'inetd');
  const now = flag(values, 'now');
  const onDemand = flag(values, 'on-demand');
  const wrapper = flag(values, 'wrapper');
  if (datagram && seqpacket) throw conflict('--datagram', '--seqpacket');
  if (datagram && accept) throw conflict('--datagram', '--accept', 'datagram sockets do not accept connections');
  if (now && onDemand) throw conflict('--now', '--on-demand');
  if (accept && onDemand) throw conflict('--accept', '--on-demand', 'accept mode starts a program for each connection as it comes');
  if (wrapper && accept) throw conflict('--wrapper', '--accept', 'each connection goes to its own program at fd 3');
  if (wrapper && inetd) throw conflict('--wrapper', '--inetd', 'the socket is on stdin and stdout');

  const defaults: Partial<SocketOptions> = {};
  if (datagram) defaults.type = 'dgram';
  if (seqpacket) defaults.type = 'seqpacket';
  const backlog = positiveInt(single(values, 'backlog'), 'backlog');
  if (backlog !== undefined) defaults.backlog = backlog;
  if (flag(values, 'reuse-port')) defaults.reusePort = true;
  if (flag(values, 'freebind')) defaults.freebind = true;
  if (flag(values, 'remove-stale')) defaults.removeStale = true;
  if (flag(values, 'remove-on-exit')) defaults.removeOnExit = true;
  const mode = single(values, 'socket-mode');
  if (mode !== undefined) {
    const m = parseMode(mode);
    if (m === undefined) throw usageError(`--socket-mode '${mode}': expected an octal mode such as 0660`, { value: mode });
    defaults.mode = m;
  }
  const socketUser = single(values, 'socket-user');
  if (socketUser !== undefined) defaults.user = socketUser;
  const socketGroup = single(values, 'socket-group');
  if (socketGroup !== undefined) defaults.group = socketGroup;

  const specs = texts(values, 'listen').map((text) => {
    try {
      return parseListen(text, defaults);
    } catch (err) {
      if (!(err instanceof SockactError) || err.code !== 'ERR_LISTEN_ADDRESS') throw err;
      // Only the type default can misfit (seqpacket on an IP address): name the flag that set it.
      if (err.fromDefault === 'type') throw conflict('--seqpacket', `-l ${quote(text)}`, err.reason);
      throw usageError(err.message, { value: text, cause: err });
    }
  });
  if (accept) {
    const dgram = specs.find((s) => s.type === 'dgram');
    if (dgram) throw conflict('--accept', `-l '${dgram.text}'`, 'a datagram socket does not accept connections');
  }

  const fdnameValues = texts(values, 'fdname', true);
  let fdnames: string[] | undefined;
  if (fdnameValues.length) {
    if (inetd) throw conflict('--inetd', '--fdname', 'stdin and stdout carry no names');
    fdnames = fdnameValues.flatMap((v) => v.split(':'));
    for (const n of fdnames) {
      const problem = fdNameProblem(n);
      if (problem) throw usageError(`--fdname ${quote(n)} is not a valid fd name (${problem})`, { value: n });
    }
    if (accept && fdnames.length > 1) throw conflict('--accept', `--fdname with several names`, 'each connection is one fd');
    const named = specs.find((s) => s.name !== undefined);
    if (fdnames.length > 1 && named) throw conflict('--fdname with several names', `-l '${named.text}' (name=)`);
    // The count is checked against every fd, inherited ones first, once they are known (sockact.ts).
  }
  if (accept || inetd) {
    const named = specs.find((s) => s.name !== undefined);
    if (named) throw conflict(accept ? '--accept' : '--inetd', `-l '${named.text}' (name=)`);
  }

  const maxText = single(values, 'max-connections');
  if (maxText !== undefined && !accept) throw usageError('--max-connections applies to --accept only');
  const maxConnections = positiveInt(maxText, 'max-connections');

  const [program, ...args] = rest;
  if (program === undefined) throw usageError('PROGRAM is missing: sockact [options] [--] PROGRAM [ARGS...]');
  const config: RunConfig = {
    specs,
    program,
    args,
    setenv: texts(values, 'setenv'),
    accept,
    inetd,
    onDemand,
    wrapper,
    quiet: flag(values, 'quiet'),
    supervise: { rolling: false, watch: [], prefix: false },
    fdStore: flag(values, 'fd-store'),
    daemon: flag(values, 'daemon'),
  };
  config.supervise = superviseOptions(values, accept || inetd);
  if (config.supervise.takeover && onDemand) throw conflict('--takeover', '--on-demand', 'the old sockact serves until the new program is ready');
  if (config.supervise.workers !== undefined && config.supervise.workers > 1 && wrapper) {
    throw conflict('--wrapper', '--workers', 'the hand-off socket serves one program');
  }
  if (maxConnections !== undefined) config.maxConnections = maxConnections;
  if (fdnames) config.fdnames = fdnames;
  const user = single(values, 'user');
  if (user !== undefined) config.user = user;
  const group = single(values, 'group');
  if (group !== undefined) config.group = group;
  daemonOptions(values, config);
  // Read through the key map: an extra option the launch table also declares is found either way.
  const extraValues = new Map(extra.map((e) => [e.name, parsed.get(byKey.get(e.name)!) ?? []]));
  return { kind: 'run', config, extra: extraValues };
}
