import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSetenv } from '../launch/env.js';
import { resolveProgram } from '../launch/program.js';
import { parsePositiveInt } from '../protocol/address.js';
import { SockactError, usageError } from '../protocol/errors.js';
import {
  environmentValue,
  escapeSpecifiers,
  execLine,
  formatUsec,
  formatListen,
  parseUsec,
  renderUnit,
  socketUnits,
  unitNameProblem,
  type UnitFile,
  type UnitSocket,
} from '../protocol/unit-file.js';
import { OPTIONS } from './options.js';
import { parseCommandLine, type ExtraOption, type RunConfig } from './parse.js';

/*
 * `sockact unit --name NAME [launch options] -- PROGRAM [ARGS...]`: the systemd units that do
 * what that command line does. The launch options are parsed by the launcher's own parser
 * (parse.ts), so a command line that runs is one that converts; the unit's own options and the
 * supervisor's are declared here as extras of that parser. Anything a unit cannot say is an
 * error naming the option, never a different unit.
 */

interface Def extends ExtraOption {
  arg?: string;
  describe: string;
}

/** The options of `sockact unit` itself. */
export const UNIT_OPTIONS: readonly Def[] = [
  {
    name: 'name',
    kind: 'value',
    arg: 'NAME',
    describe: 'Unit name: NAME.service, NAME.socket (NAME-<fdname>.socket when several are needed); with --shape sockact also passed to sockact as --name',
  },
  {
    name: 'shape',
    kind: 'value',
    arg: 'direct|sockact',
    describe:
      'direct (default): systemd binds the sockets in .socket units and starts PROGRAM itself, Type=notify. sockact: systemd runs sockact, which binds the sockets and supervises PROGRAM, for zero-downtime `systemctl reload`',
  },
  {
    name: 'socket-units',
    kind: 'flag',
    describe: 'With --shape sockact: systemd holds the sockets in .socket units and sockact passes them through (they outlive sockact itself)',
  },
  { name: 'notify-reload', kind: 'flag', describe: 'Type=notify-reload (systemd 253+) instead of Type=notify with ExecReload=/bin/kill (systemd 252)' },
  { name: 'out', kind: 'value', arg: 'DIR', describe: 'Write the unit files into DIR (created if needed) instead of printing them' },
  {
    name: 'sockact',
    kind: 'value',
    arg: 'PATH',
    describe: "With --shape sockact: the sockact command in ExecStart= (default: this node binary and this sockact's bin/sockact.js)",
  },
];

/**
 * The supervisor's options, under the names and defaults the supervisor uses. With --shape
 * sockact they go on sockact's command line; --shape direct maps those systemd has.
 */
const SUPERVISOR_OPTIONS: readonly Def[] = [
  { name: 'restart', kind: 'value', arg: 'no|on-failure|always', describe: 'Restart PROGRAM when it ends (default no); direct: Restart=' },
  { name: 'restart-delay', kind: 'value', arg: 'DURATION', describe: 'First delay before a restart (default 100ms, doubling); direct: RestartSec= (fixed)' },
  { name: 'restart-delay-max', kind: 'value', arg: 'DURATION', describe: 'Longest delay (default 10s); sockact only (systemd 254 has RestartMaxDelaySec=)' },
  { name: 'start-limit-burst', kind: 'value', arg: 'N', describe: 'At most N starts per interval (default 5); direct: StartLimitBurst=' },
  { name: 'start-limit-interval', kind: 'value', arg: 'DURATION', describe: 'The interval (default 10s); direct: StartLimitIntervalSec=' },
  {
    name: 'ready',
    kind: 'value',
    arg: 'auto|notify|DURATION',
    describe: 'When PROGRAM is ready (default auto); direct: notify is Type=notify (the default there), DURATION is Type=exec and ExecStartPost=/bin/sleep',
  },
  { name: 'ready-timeout', kind: 'value', arg: 'DURATION', describe: 'Give up on a start after DURATION (default 90s); direct: TimeoutStartSec=' },
  { name: 'stop-signal', kind: 'value', arg: 'SIG', describe: 'Signal that stops PROGRAM (default SIGTERM); direct: KillSignal=' },
  { name: 'stop-timeout', kind: 'value', arg: 'DURATION', describe: 'Kill PROGRAM after DURATION (default 30s); direct: TimeoutStopSec=' },
  {
    name: 'reload-signal',
    kind: 'value',
    arg: 'SIG',
    describe: 'Reload PROGRAM with this signal instead of replacing it; direct: ExecReload=/bin/kill -s SIG $MAINPID (or ReloadSignal=)',
  },
  { name: 'workers', kind: 'value', arg: 'N', describe: 'Run N copies of PROGRAM (default 1); sockact only' },
  { name: 'rolling', kind: 'flag', describe: 'Replace workers one at a time on reload; sockact only' },
  { name: 'watch', kind: 'repeatable', arg: 'PATH', describe: 'Reload when PATH changes; sockact only' },
  { name: 'watch-debounce', kind: 'value', arg: 'DURATION', describe: 'Wait for DURATION of quiet before that reload (default 200ms); sockact only' },
  { name: 'watchdog-sec', kind: 'value', arg: 'DURATION', describe: 'Watchdog interval for PROGRAM; direct: WatchdogSec=' },
  { name: 'control', kind: 'value', arg: 'PATH', describe: 'Control socket of the supervisor; sockact only' },
  { name: 'prefix', kind: 'flag', describe: "Prefix PROGRAM's output lines; sockact only" },
];

const EXTRA = [...UNIT_OPTIONS, ...SUPERVISOR_OPTIONS];

export const UNIT_EPILOGUE = [
  'Two shapes. --shape direct: NAME.socket (several .socket units when the -l values differ in name or socket options: FileDescriptorName= is one per unit, and their fds then reach PROGRAM in no fixed order, so each needs a name) and NAME.service running PROGRAM with Type=notify (or NAME@.service with --accept). A restart of PROGRAM never refuses a connection, but `systemctl reload` is only what --reload-signal makes it.',
  '--shape sockact: NAME.service runs sockact with these options (Type=notify, NotifyAccess=main, KillMode=mixed, ExecReload=/bin/kill -HUP $MAINPID): sockact binds the sockets, stays the main process, and on `systemctl reload` starts a new PROGRAM before the old one stops. With --socket-units, systemd binds them in .socket units and sockact passes them through.',
  'Per-socket options become Backlog=, SocketMode=, SocketUser=, SocketGroup=, ReusePort=, FreeBind=, BindIPv6Only=, ListenDatagram=, ListenSequentialPacket=, RemoveOnStop=, Accept=yes; --user/--group become User=/Group=, -E NAME=VALUE Environment= and -E NAME PassEnvironment=. Relative paths are made absolute, PROGRAM is looked up on PATH, and WorkingDirectory= is the current directory. systemd replaces an existing socket file (as remove-stale does).',
  'An option a unit cannot express is an error naming it (--wrapper, --workers... with --shape direct).',
].join('\n\n');

/** `sockact unit` writes its messages like the launcher, as one line prefixed "sockact: unit: ". */
function say(line: string): void {
  process.stderr.write(`sockact: unit: ${line}\n`);
}

type Values = Map<string, unknown[]>;

const GENERATED = 'Generated by `sockact unit`: change the command line and generate again rather than edit.';

function text(values: Values, name: string): string | undefined {
  const list = (values.get(name) ?? []).map(String);
  if (list.some((v) => v === '')) throw usageError(`--${name} needs a value`);
  if (list.length > 1) throw usageError(`--${name} is given more than once ('${list.join("', '")}')`);
  return list[0];
}

function isSet(values: Values, name: string): boolean {
  const list = values.get(name) ?? [];
  for (const v of list) if (typeof v !== 'boolean') throw usageError(`--${name} takes no value (got '${String(v)}')`);
  return list[list.length - 1] === true;
}

function duration(values: Values, name: string): number | undefined {
  const t = text(values, name);
  if (t === undefined) return undefined;
  const usec = parseUsec(t);
  if (usec === undefined) throw usageError(`--${name} '${t}': expected a duration such as 100ms, 10s or 2min`, { value: t });
  return usec;
}

function count(values: Values, name: string): number | undefined {
  const t = text(values, name);
  if (t === undefined) return undefined;
  const n = parsePositiveInt(t);
  if (n === undefined) throw usageError(`--${name} '${t}': expected a positive whole number`, { value: t });
  return n;
}

function signal(values: Values, name: string): string | undefined {
  const t = text(values, name);
  if (t === undefined) return undefined;
  const sig = /^\d+$/.test(t) ? undefined : t.toUpperCase().startsWith('SIG') ? t.toUpperCase() : `SIG${t.toUpperCase()}`;
  if (sig === undefined || !(sig in constants.signals)) throw usageError(`--${name} '${t}': not a signal name such as SIGTERM`, { value: t });
  return sig;
}

function oneOf<T extends string>(values: Values, name: string, allowed: readonly T[]): T | undefined {
  const t = text(values, name);
  if (t !== undefined && !(allowed as readonly string[]).includes(t)) {
    throw usageError(`--${name} '${t}': expected ${allowed.join(', ')}`, { value: t });
  }
  return t as T | undefined;
}

/** Everything the units are made from, checked. */
export interface UnitPlan {
  name: string;
  shape: 'direct' | 'sockact';
  socketUnits: boolean;
  notifyReload: boolean;
  config: RunConfig;
  values: Values;
  /** PROGRAM as an absolute path. */
  program: string;
  cwd: string;
  /** The sockact command for ExecStart= (--shape sockact). */
  sockact: string[];
}

/** The directory of the package this file belongs to (src/cli, dist/src/cli or a bundle in dist/src/cli). */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) if (existsSync(join(dir, 'bin', 'sockact.js'))) return dir;
  return undefined;
}

/**
 * Parse `sockact unit ...` (argv after the word `unit`). Returns 'help' for -h, else the plan;
 * throws a usage error (ERR_USAGE) naming the option for what is wrong or cannot be said in a unit.
 */
export function planUnits(argv: readonly string[]): UnitPlan | 'help' {
  const cwd = process.cwd();
  const cmd = parseCommandLine(argv, EXTRA);
  if (cmd.kind === 'help') return 'help';
  if (cmd.kind !== 'run') throw usageError(`sockact unit: --${cmd.kind} is not an option of sockact unit`);
  const { config, extra: values } = cmd;
  const name = text(values, 'name');
  if (name === undefined) throw usageError('--name is missing: sockact unit --name NAME [options] [--] PROGRAM [ARGS...]');
  const problem = unitNameProblem(name);
  if (problem) throw usageError(`--name '${name}' cannot name a unit (${problem})`, { value: name });
  const shape = oneOf(values, 'shape', ['direct', 'sockact'] as const) ?? 'direct';
  const socketUnits = isSet(values, 'socket-units');
  if (socketUnits && shape !== 'sockact') throw usageError('--socket-units applies to --shape sockact (--shape direct always has .socket units)');
  const sockactPath = text(values, 'sockact');
  if (sockactPath !== undefined && shape !== 'sockact') throw usageError('--sockact applies to --shape sockact only');

  // Validate every supervisor option now, whichever shape, so a typo fails the same way.
  oneOf(values, 'restart', ['no', 'on-failure', 'always'] as const);
  for (const d of ['restart-delay', 'restart-delay-max', 'start-limit-interval', 'ready-timeout', 'stop-timeout', 'watch-debounce', 'watchdog-sec'])
    duration(values, d);
  count(values, 'start-limit-burst');
  count(values, 'workers');
  signal(values, 'stop-signal');
  signal(values, 'reload-signal');
  const ready = text(values, 'ready');
  if (ready !== undefined && ready !== 'auto' && ready !== 'notify' && parseUsec(ready) === undefined) {
    throw usageError(`--ready '${ready}': expected auto, notify or a duration such as 2s`, { value: ready });
  }
  isSet(values, 'rolling');
  isSet(values, 'prefix');
  for (const w of (values.get('watch') ?? []).map(String)) if (w === '') throw usageError('--watch needs a value');
  text(values, 'control');
  // systemd is the service manager: the unit's sockact runs in the foreground as its main process.
  if (config.daemon) throw usageError('--daemon has no place in a unit (systemd runs sockact in the foreground, Type=notify)');
  if (config.pidFile !== undefined) throw usageError('--pid-file has no place in a unit (systemd knows the main pid)');
  if (config.fdStore && shape !== 'sockact')
    throw usageError('--fd-store applies to --shape sockact (with --shape direct, systemd holds the sockets in .socket units)');
  parseSetenv(config.setenv, {});
  // A unit's sockact has no sockets of its own to inherit, unlike one started by hand from a .socket unit.
  if (config.specs.length === 0) throw usageError('nothing to listen on: give -l ADDRESS');
  if (config.inetd && config.specs.length !== 1) {
    throw usageError(`--inetd passes exactly one socket on stdin and stdout, but there are ${config.specs.length}`);
  }

  const env = parseSetenv(
    config.setenv.filter((e) => e.startsWith('PATH=')),
    {},
  );
  const program = resolveProgram(config.program, env.PATH ?? process.env.PATH);
  let sockact: string[];
  if (sockactPath !== undefined) sockact = [resolve(cwd, sockactPath)];
  else {
    const root = packageRoot();
    if (root === undefined) throw new SockactError('ENOENT', "can't find sockact's bin/sockact.js: give --sockact PATH");
    sockact = [realpathSync(process.execPath), realpathSync(join(root, 'bin', 'sockact.js'))];
  }
  return { name, shape, socketUnits, notifyReload: isSet(values, 'notify-reload'), config, values, program, cwd, sockact };
}

/** The fd name each -l gets: its own name=, else the one from --fdname (one for all, or one each). */
function unitSockets(c: RunConfig): UnitSocket[] {
  return c.specs.map((spec, i) => {
    const fdName = spec.name ?? (c.fdnames?.length === 1 ? c.fdnames[0] : c.fdnames?.[i]);
    return fdName === undefined ? { spec } : { spec, fdName };
  });
}

function noUnitEquivalent(option: string, why: string): SockactError {
  return usageError(`${option} has no systemd unit equivalent with --shape direct (${why})`);
}

/** [Service] Environment= / PassEnvironment= for -E. */
function environment(setenv: readonly string[]): [string, string][] {
  return setenv.map((e) => {
    const eq = e.indexOf('=');
    // NAME alone passes the launcher's own value: in a unit, the service manager's (systemd.exec(5)).
    return eq < 0 ? ['PassEnvironment', e] : ['Environment', environmentValue(e.slice(0, eq), e.slice(eq + 1))];
  });
}

/** --shape direct: systemd binds the sockets and starts PROGRAM itself. */
function directUnits(p: UnitPlan): UnitFile[] {
  const { config: c, values } = p;
  const refuse: [string, boolean, string][] = [
    ['--wrapper', c.wrapper, 'systemd passes the sockets to PROGRAM only; make PROGRAM exec the app'],
    ['--quiet', c.quiet, 'there is no sockact to be quiet'],
    ['--workers', values.get('workers')!.length > 0, 'systemd runs one main process per service: use --shape sockact'],
    ['--rolling', isSet(values, 'rolling'), 'use --shape sockact'],
    ['--watch', values.get('watch')!.length > 0, 'use --shape sockact'],
    ['--watch-debounce', values.get('watch-debounce')!.length > 0, 'use --shape sockact'],
    ['--control', values.get('control')!.length > 0, 'systemctl is the control: use --shape sockact'],
    ['--prefix', isSet(values, 'prefix'), 'the journal marks every line with the unit: use --shape sockact'],
    ['--restart-delay-max', values.get('restart-delay-max')!.length > 0, 'systemd 252 restarts after a fixed RestartSec=; RestartMaxDelaySec= is systemd 254+'],
    ['--ready auto', text(values, 'ready') === 'auto', 'say --ready notify or --ready DURATION'],
  ];
  for (const [option, given, why] of refuse) if (given) throw noUnitEquivalent(option, why);
  const reloadSignal = signal(values, 'reload-signal');
  if (p.notifyReload && reloadSignal === undefined) {
    throw usageError('--notify-reload with --shape direct needs --reload-signal: PROGRAM itself must answer RELOADING=1 and READY=1');
  }

  const template = c.accept;
  const service = `${p.name}${template ? '@' : ''}.service`;
  const sockets = socketUnits(unitSockets(c), {
    name: p.name,
    service,
    accept: c.accept,
    ...(c.maxConnections !== undefined ? { maxConnections: c.maxConnections } : {}),
    description: `${p.name}: sockets`,
    comment: [GENERATED],
  });

  const unit: [string, string][] = [['Description', escapeSpecifiers(`${p.name}: ${[c.program, ...c.args].join(' ')}`)]];
  const burst = count(values, 'start-limit-burst');
  const interval = duration(values, 'start-limit-interval');
  if (interval !== undefined) unit.push(['StartLimitIntervalSec', formatUsec(interval)]);
  if (burst !== undefined) unit.push(['StartLimitBurst', String(burst)]);

  const s: [string, string][] = [];
  const ready = text(values, 'ready');
  const readyAfter = ready !== undefined && ready !== 'notify' ? parseUsec(ready) : undefined;
  if (c.accept) {
    // sockact -a starts a program per connection and waits for no readiness: neither does this.
    if (ready !== undefined) throw usageError('--ready does not apply to --accept: each connection starts its own PROGRAM');
    s.push(['Type', 'exec']);
  } else if (readyAfter !== undefined) {
    s.push(['Type', 'exec']);
  } else {
    s.push(['Type', p.notifyReload ? 'notify-reload' : 'notify'], ['NotifyAccess', 'main']);
  }
  if (!c.accept) s.push(['Sockets', sockets.map((u) => u.file).join(' ')]);
  s.push(['ExecStart', execLine([p.program, ...c.args])]);
  // /bin/sleep reads seconds; the service is "activating" until it returns, as sockact's --ready DURATION waits.
  if (readyAfter !== undefined) s.push(['ExecStartPost', execLine(['/bin/sleep', String(readyAfter / 1e6)])]);
  if (reloadSignal !== undefined) {
    if (p.notifyReload) s.push(['ReloadSignal', reloadSignal]);
    else s.push(['ExecReload', `/bin/kill -s ${reloadSignal.slice(3)} $MAINPID`]);
  }
  s.push(['WorkingDirectory', escapeSpecifiers(p.cwd)]);
  if (c.user !== undefined) s.push(['User', escapeSpecifiers(c.user)]);
  if (c.group !== undefined) s.push(['Group', escapeSpecifiers(c.group)]);
  s.push(...environment(c.setenv));
  if (c.inetd) s.push(['StandardInput', 'socket'], ['StandardOutput', 'socket'], ['StandardError', 'journal']);
  const restart = oneOf(values, 'restart', ['no', 'on-failure', 'always'] as const);
  if (restart !== undefined) s.push(['Restart', restart]);
  const restartDelay = duration(values, 'restart-delay');
  if (restartDelay !== undefined) s.push(['RestartSec', formatUsec(restartDelay)]);
  const readyTimeout = duration(values, 'ready-timeout');
  if (readyTimeout !== undefined) s.push(['TimeoutStartSec', formatUsec(readyTimeout)]);
  const stopSignal = signal(values, 'stop-signal');
  if (stopSignal !== undefined) s.push(['KillSignal', stopSignal]);
  const stopTimeout = duration(values, 'stop-timeout');
  if (stopTimeout !== undefined) s.push(['TimeoutStopSec', formatUsec(stopTimeout)]);
  const watchdog = duration(values, 'watchdog-sec');
  if (watchdog !== undefined) s.push(['WatchdogSec', formatUsec(watchdog)]);

  // Without --on-demand sockact starts PROGRAM at once: so does a service wanted at boot. With it,
  // or per connection, the .socket unit starts it on the first connection.
  const install: [string, string][] = c.onDemand || c.accept ? [] : [['WantedBy', 'multi-user.target']];
  const serviceText = renderUnit(
    [
      ['Unit', unit],
      ['Service', s],
      ['Install', install],
    ],
    [GENERATED],
  );
  return [...sockets, { file: service, text: serviceText }];
}

/** sockact's own command line for ExecStart=, options first, then `--` PROGRAM ARGS. */
function sockactArgs(p: UnitPlan): string[] {
  const { config: c, values } = p;
  const out: string[] = ['--name', p.name];
  if (!p.socketUnits) for (const s of unitSockets(c)) out.push('-l', formatListen(s.spec, s.fdName));
  for (const e of c.setenv) out.push('-E', e);
  if (c.user !== undefined) out.push('--user', c.user);
  if (c.group !== undefined) out.push('--group', c.group);
  if (c.onDemand) out.push('--on-demand');
  if (c.wrapper) out.push('--wrapper');
  if (c.accept) out.push('--accept');
  if (c.inetd) out.push('--inetd');
  if (c.maxConnections !== undefined) out.push('--max-connections', String(c.maxConnections));
  if (c.quiet) out.push('--quiet');
  if (c.fdStore) out.push('--fd-store');
  for (const o of SUPERVISOR_OPTIONS) {
    if (o.kind === 'flag') {
      if (isSet(values, o.name)) out.push(`--${o.name}`);
    } else if (o.kind === 'repeatable') {
      for (const v of values.get(o.name) ?? []) out.push(`--${o.name}`, resolve(p.cwd, String(v)));
    } else {
      const v = text(values, o.name);
      if (v === undefined) continue;
      const usec = parseUsec(v);
      const norm =
        o.arg === 'DURATION' && usec !== undefined
          ? formatUsec(usec)
          : o.arg === 'SIG'
            ? signal(values, o.name)!
            : o.name === 'control'
              ? resolve(p.cwd, v)
              : v;
      out.push(`--${o.name}`, norm);
    }
  }
  return [...out, '--', p.program, ...c.args];
}

/** --shape sockact: systemd runs sockact, which holds (or passes through) the sockets and supervises PROGRAM. */
function sockactUnits(p: UnitPlan): UnitFile[] {
  const { config: c } = p;
  const service = `${p.name}.service`;
  const sockets = p.socketUnits
    ? socketUnits(unitSockets(c), { name: p.name, service, description: `${p.name}: sockets passed through sockact`, comment: [GENERATED] })
    : [];
  const s: [string, string][] = [
    ['Type', p.notifyReload ? 'notify-reload' : 'notify'],
    ['NotifyAccess', 'main'],
  ];
  if (sockets.length) s.push(['Sockets', sockets.map((u) => u.file).join(' ')]);
  s.push(['ExecStart', execLine([...p.sockact, ...sockactArgs(p)])]);
  // The store sockact keeps its sockets in across its own restarts (launch/fdstore.ts): one per -l.
  if (c.fdStore) s.push(['FileDescriptorStoreMax', String(Math.max(16, c.specs.length))]);
  // Type=notify-reload sends SIGHUP itself (ReloadSignal= defaults to it); systemd 252 needs the kill.
  if (!p.notifyReload) s.push(['ExecReload', '/bin/kill -HUP $MAINPID']);
  // SIGTERM to sockact alone, which stops PROGRAM its own way; SIGKILL to all only at the timeout.
  s.push(['KillMode', 'mixed']);
  // systemd's own timeouts outlast sockact's (--ready-timeout 90s, --stop-timeout 30s by default),
  // so that sockact, not a SIGKILL, decides and reports a start or stop that takes too long.
  const readyTimeout = duration(p.values, 'ready-timeout') ?? 90_000_000;
  const stopTimeout = duration(p.values, 'stop-timeout') ?? 30_000_000;
  s.push(['TimeoutStartSec', formatUsec(readyTimeout + 10_000_000)], ['TimeoutStopSec', formatUsec(stopTimeout + 10_000_000)]);
  s.push(['WorkingDirectory', escapeSpecifiers(p.cwd)]);
  // -E NAME passes sockact's own value, which under systemd is the manager's only when passed on.
  for (const e of c.setenv) if (!e.includes('=')) s.push(['PassEnvironment', e]);
  const install: [string, string][] = p.socketUnits && c.onDemand ? [] : [['WantedBy', 'multi-user.target']];
  const unit: [string, string][] = [['Description', escapeSpecifiers(`${p.name}: ${[c.program, ...c.args].join(' ')} under sockact`)]];
  const serviceText = renderUnit(
    [
      ['Unit', unit],
      ['Service', s],
      ['Install', install],
    ],
    [GENERATED],
  );
  return [...sockets, { file: service, text: serviceText }];
}

/** The unit files for a plan. */
export function generateUnits(p: UnitPlan): UnitFile[] {
  return p.shape === 'direct' ? directUnits(p) : sockactUnits(p);
}

async function helpText(): Promise<string> {
  const require = createRequire(import.meta.url);
  const yargs = require('yargs/yargs') as (args: string[]) => import('yargs').Argv;
  const y = yargs([])
    .scriptName('sockact')
    .usage(
      'Usage: $0 unit --name NAME [--shape direct|sockact] [options] [--] PROGRAM [ARGS...]\n\nPrint (or write with --out) the systemd units that run PROGRAM the way `sockact [options] PROGRAM` does.',
    )
    .help(false)
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100));
  const add = (o: ExtraOption & { arg?: string; describe: string }, group: string) =>
    y.option(o.name, {
      ...(o.alias ? { alias: o.alias } : {}),
      type: o.kind === 'flag' ? 'boolean' : 'string',
      ...(o.kind === 'repeatable' ? { array: true } : {}),
      describe: o.describe,
      group,
      ...(o.arg ? { requiresArg: true } : {}),
    });
  for (const o of UNIT_OPTIONS) add(o, 'Unit:');
  for (const o of OPTIONS) if (o.name !== 'version') add(o, `${o.group}:`);
  for (const o of SUPERVISOR_OPTIONS) add(o, 'Supervisor:');
  y.example('sockact unit --name hello -l 8080,name=web -- node server.js', 'hello.socket + hello.service (Type=notify)');
  y.example(
    'sockact unit --shape sockact --name hello -l 8080 --restart on-failure -- node server.js',
    'hello.service running sockact: zero-downtime systemctl reload',
  );
  y.example('sockact unit --name hello --out /etc/systemd/system -l 8080 -- node server.js', 'Write the files');
  y.epilogue(UNIT_EPILOGUE);
  return y.getHelp();
}

/** `sockact unit ...` (argv after the word `unit`): print or write the units. Returns the exit status. */
export async function unitMain(argv: readonly string[]): Promise<number> {
  try {
    const plan = planUnits(argv);
    if (plan === 'help') {
      process.stdout.write(`${await helpText()}\n`);
      return 0;
    }
    const units = generateUnits(plan);
    const out = text(plan.values, 'out');
    if (out === undefined) {
      process.stdout.write(units.map((u) => `### ${u.file}\n${u.text}`).join('\n'));
      return 0;
    }
    const dir = resolve(out);
    let path = dir;
    try {
      mkdirSync(dir, { recursive: true });
      for (const u of units) {
        path = join(dir, u.file);
        writeFileSync(path, u.text);
        say(`wrote ${path}`);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      say(`can't write ${path}: ${e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOTDIR' || e.code === 'EEXIST' ? 'not a directory' : e.message}`);
      return 1;
    }
    return 0;
  } catch (err) {
    if (!(err instanceof SockactError)) throw err;
    say(err.message);
    if (err.code === 'ERR_USAGE') process.stderr.write("Try 'sockact unit --help' for more information.\n");
    return err.exitCode ?? (err.code === 'ERR_UNIT' || err.code === 'ERR_LISTEN_ADDRESS' ? 2 : 1);
  }
}
