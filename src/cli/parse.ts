import { createRequire } from 'node:module';
import { ListenSpecError, parseListen, parseMode, parsePositiveInt, type ListenSpec, type SocketOptions } from '../protocol/address.js';
import { quote } from '../protocol/errors.js';
import { fdNameProblem } from '../protocol/fdname.js';
import { UsageError } from '../launch/errors.js';
import { OPTIONS, SUBCOMMANDS, type OptionDef } from './options.js';

// yargs-parser's CJS build is one file; its ESM build is four, and takes ~3 ms longer to load.
const parser = createRequire(import.meta.url)('yargs-parser') as typeof import('yargs-parser');

/** What the command line asks the launcher to do. */
export interface RunConfig {
  specs: ListenSpec[];
  /** --fdname values, split on ':' (one name is copied to every new socket). */
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
}

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; config: RunConfig }
  /** A subcommand, recognised only as the first word (none are defined yet). */
  | { kind: 'subcommand'; name: string; argv: string[] };

const BY_KEY = new Map<string, OptionDef>();
for (const o of OPTIONS) for (const k of [o.name, ...(o.alias ?? [])]) BY_KEY.set(k, o);

/** How an option is written in messages: -l for the ones systemd-socket-activate abbreviates too. */
function labelOf(name: string): string {
  const o = BY_KEY.get(name)!;
  const short = o.alias?.find((a) => a.length === 1);
  return short && o.kind === 'repeatable' ? `-${short}` : `--${o.name}`;
}

/**
 * Parse the options before PROGRAM. yargs-parser stops at the first word that is not an option
 * ('halt-at-non-option'), so everything from PROGRAM on belongs to the program, `--` or not;
 * numbers are left as text (a port or mode is validated here, a program argument never touched).
 */
function parseOptions(argv: readonly string[]): { values: Map<OptionDef, unknown[]>; rest: string[] } {
  const parsed = parser([...argv], {
    boolean: OPTIONS.filter((o) => o.kind === 'flag').map((o) => o.name),
    string: OPTIONS.filter((o) => o.kind !== 'flag').map((o) => o.name),
    alias: Object.fromEntries(OPTIONS.filter((o) => o.alias).map((o) => [o.name, o.alias!])),
    configuration: {
      'halt-at-non-option': true,
      'populate--': true,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'dot-notation': false,
      'camel-case-expansion': false,
      'boolean-negation': false,
      'duplicate-arguments-array': true,
      'greedy-arrays': false,
      'strip-aliased': true,
    },
  });
  const rest = [...parsed._.map(String), ...((parsed['--'] as string[] | undefined) ?? [])];
  const optionWords = argv.slice(0, argv.length - rest.length);
  const program = swallowedProgram(optionWords);
  if (program !== undefined) {
    const head = parseOptions(argv.slice(0, program));
    return { values: head.values, rest: [...head.rest, ...argv.slice(program)] };
  }
  const values = new Map<OptionDef, unknown[]>();
  for (const [key, value] of Object.entries(parsed)) {
    if (key === '_' || key === '--') continue;
    const def = BY_KEY.get(key);
    if (!def) throw new UsageError(`unknown option ${key.length === 1 ? '-' : '--'}${key}`, { value: key });
    const list = Array.isArray(value) ? value : [value];
    values.set(def, [...(values.get(def) ?? []), ...list]);
  }
  // yargs-parser reads `--flag=anything` as a boolean; among sockact's own words, refuse it.
  for (const word of optionWords) {
    const m = /^--([^=]+)=(.*)$/.exec(word);
    const def = m && BY_KEY.get(m[1]!);
    if (def && def.kind === 'flag' && !/^(true|false)$/.test(m[2]!)) {
      throw new UsageError(`--${m[1]} takes no value (got '${m[2]}')`, { value: word });
    }
  }
  return { values, rest };
}

/**
 * yargs-parser gives a flag the next word as its value when that word is `true` or `false`
 * (`-q true`); getopt, and so systemd-socket-activate, would run it as PROGRAM. The index of the
 * first word taken that way, if any.
 */
function swallowedProgram(optionWords: readonly string[]): number | undefined {
  for (let i = 0; i + 1 < optionWords.length; i++) {
    const word = optionWords[i]!;
    if (!word.startsWith('-') || word.includes('=')) continue;
    // A group of short options (-qd) ends in the one that would take the value.
    const key = word.startsWith('--') ? word.slice(2) : word.slice(-1);
    if (BY_KEY.get(key)?.kind === 'flag' && /^(true|false)$/.test(optionWords[i + 1]!)) return i + 1;
  }
  return undefined;
}

function flag(values: Map<OptionDef, unknown[]>, name: string): boolean {
  const list = values.get(BY_KEY.get(name)!);
  if (!list) return false;
  for (const v of list) if (typeof v !== 'boolean') throw new UsageError(`${labelOf(name)} takes no value (got '${String(v)}')`);
  return list[list.length - 1] === true;
}

function texts(values: Map<OptionDef, unknown[]>, name: string): string[] {
  const list = (values.get(BY_KEY.get(name)!) ?? []).map(String);
  for (const v of list) if (v === '') throw new UsageError(`${labelOf(name)} needs a value`);
  return list;
}

function single(values: Map<OptionDef, unknown[]>, name: string): string | undefined {
  const list = texts(values, name);
  if (list.length > 1) throw new UsageError(`--${name} is given more than once ('${list.join("', '")}')`);
  return list[0];
}

function positiveInt(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const n = parsePositiveInt(text);
  if (n === undefined) throw new UsageError(`--${name} '${text}': expected a positive whole number`, { value: text });
  return n;
}

function conflict(a: string, b: string, why = ''): UsageError {
  return new UsageError(`${a} may not be combined with ${b}${why ? ` (${why})` : ''}`);
}

/**
 * Parse `sockact [options] [--] PROGRAM [ARGS...]` into a Command, or throw a UsageError that
 * names the option and the value (exit 2). Conflicting options are named both.
 */
export function parseCommandLine(argv: readonly string[]): Command {
  if (argv[0] !== undefined && SUBCOMMANDS.includes(argv[0])) {
    return { kind: 'subcommand', name: argv[0], argv: argv.slice(1) };
  }
  const { values, rest } = parseOptions(argv);
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
    if (m === undefined) throw new UsageError(`--socket-mode '${mode}': expected an octal mode such as 0660`, { value: mode });
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
      if (!(err instanceof ListenSpecError)) throw err;
      // Only the type default can misfit (seqpacket on an IP address): name the flag that set it.
      if (err.fromDefault === 'type') throw conflict('--seqpacket', `-l ${quote(text)}`, err.reason);
      throw new UsageError(err.message, { value: text, cause: err });
    }
  });
  if (accept) {
    const dgram = specs.find((s) => s.type === 'dgram');
    if (dgram) throw conflict('--accept', `-l '${dgram.text}'`, 'a datagram socket does not accept connections');
  }

  const fdnameValues = texts(values, 'fdname');
  let fdnames: string[] | undefined;
  if (fdnameValues.length) {
    if (accept) throw conflict('--accept', '--fdname', "each connection is named 'connection'");
    if (inetd) throw conflict('--inetd', '--fdname', 'stdin and stdout carry no names');
    fdnames = fdnameValues.flatMap((v) => v.split(':'));
    for (const n of fdnames) {
      const problem = fdNameProblem(n);
      if (problem) throw new UsageError(`--fdname ${quote(n)} is not a valid fd name (${problem})`, { value: n });
    }
    const named = specs.find((s) => s.name !== undefined);
    if (fdnames.length > 1 && named) throw conflict('--fdname with several names', `-l '${named.text}' (name=)`);
    if (fdnames.length > 1 && fdnames.length !== specs.length) {
      throw new UsageError(`--fdname gives ${fdnames.length} names for ${specs.length} socket${specs.length === 1 ? '' : 's'} (give one name, or one per -l)`);
    }
  }
  if (accept || inetd) {
    const named = specs.find((s) => s.name !== undefined);
    if (named) throw conflict(accept ? '--accept' : '--inetd', `-l '${named.text}' (name=)`);
  }

  const maxText = single(values, 'max-connections');
  if (maxText !== undefined && !accept) throw new UsageError('--max-connections applies to --accept only');
  const maxConnections = positiveInt(maxText, 'max-connections');

  const [program, ...args] = rest;
  if (program === undefined) throw new UsageError('PROGRAM is missing: sockact [options] [--] PROGRAM [ARGS...]');
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
  };
  if (maxConnections !== undefined) config.maxConnections = maxConnections;
  if (fdnames) config.fdnames = fdnames;
  const user = single(values, 'user');
  if (user !== undefined) config.user = user;
  const group = single(values, 'group');
  if (group !== undefined) config.group = group;
  return { kind: 'run', config };
}
