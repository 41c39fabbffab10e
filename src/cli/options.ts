/**
 * sockact's options, declared once: name, short form, how the value is read (type, range,
 * default), the help text, which commands take it and what `sockact unit` makes of it. The launch
 * parser (cli/parse.ts, a getopt_long(3) of its own), --help (cli/usage.ts), `sockact unit`
 * (cli/unit.ts) and docs/cli.md (cli/reference.ts) all read this table, as systemd-socket-activate's
 * one getopt table and its arg_* variables serve it (systemd src/socket-activate/socket-activate.c).
 * Names follow systemd-socket-activate(1) where it has the option, with the same meaning.
 */

/** The commands that take options: `sockact [options] PROGRAM`, `sockact unit`, `sockact status|reload|stop`. */
export type CommandName = 'launch' | 'unit' | 'control';

/**
 * How a value is read (cli/parse.ts readValue): text as given; a count (a whole number in
 * min..max); a duration (systemd.time(7), milliseconds, in min..max); a signal a child can
 * handle; one of `choices`; an octal mode; a readiness (auto, notify or a duration).
 */
export type ValueType = 'text' | 'count' | 'duration' | 'signal' | 'choice' | 'mode' | 'readiness';

/** What `sockact unit` makes of an option. */
export interface UnitMapping {
  /** --shape direct writes it as this directive (in [Service] unless `section` says [Unit]). */
  directive?: string;
  section?: 'Unit' | 'Service';
  /** --shape direct cannot say it: why (the error names the option and this). */
  directRefused?: string;
  /** --shape sockact passes it on to the sockact in ExecStart=, normalised. */
  passed?: boolean;
  /** No unit can say it (the option is not in `commands`' unit): why. */
  refused?: string;
  /** How --shape direct says it when that takes more than one directive (for --help and docs/cli.md). */
  says?: string;
}

export interface OptionRow {
  /** The long name, as written after `--`. */
  name: string;
  /** The short form (one letter) and long aliases. */
  alias?: string[];
  /** Flags take no value; the others take one (repeatable ones collect every value). */
  kind: 'flag' | 'value' | 'repeatable';
  /** How the value is read; text when not given. */
  type?: ValueType;
  /** The range of a count, or of a duration in milliseconds (min defaults to 1 for counts, 0 for durations). */
  min?: number;
  max?: number;
  /** Why `max` is the most: the error names the limit and this. */
  maxWhy?: string;
  choices?: readonly string[];
  /**
   * A duration that 0 and `infinity` switch off (no limit, no watchdog), as systemd reads
   * TimeoutStartSec=0, TimeoutStopSec=0 and WatchdogSec=0 (systemd.service(5)); parsed as
   * Infinity. The text is how a unit file writes "off" for it.
   */
  off?: 'infinity' | '0';
  /** What --help shows after the option, e.g. ADDR. */
  arg?: string;
  /** What the option does, without its default (that is `default`). */
  help: string;
  /** The default as --help and docs write it, and what it means when that needs saying. */
  default?: string;
  defaultNote?: string;
  group: 'Sockets' | 'Per-socket defaults' | 'Program' | 'Supervisor' | 'Daemon' | 'Accept mode' | 'Other' | 'Unit';
  commands: readonly CommandName[];
  /** Only when sockact supervises: refused in accept mode, which starts one program per connection. */
  supervised?: boolean;
  unit?: UnitMapping;
}

/** A row with its --help text: `help` and the default as one sentence. */
export interface OptionDef extends OptionRow {
  readonly describe: string;
}

/** setTimeout's limit (2^31-1 ms, about 24.8 days): a longer timer would fire at once, or never. */
export const LONGEST_TIMER_MS = 2 ** 31 - 1;
const TIMER_WHY = 'about 24.8 days, the longest timer Node sets';

/** The most children sockact runs side by side: far above any machine's cores, far below what would exhaust it. */
export const MOST_WORKERS = 1024;
/** The most programs at once in accept mode: the smallest pid_max a Linux kernel has by default. */
export const MOST_CONNECTIONS = 32768;
/** listen(2) takes the backlog as an int (the kernel caps it at net.core.somaxconn). */
const INT_MAX = 0x7fffffff;

const duration = { type: 'duration', max: LONGEST_TIMER_MS, maxWhy: TIMER_WHY } as const;
const both: readonly CommandName[] = ['launch', 'unit'];
const launchOnly: readonly CommandName[] = ['launch'];
const unitOnly: readonly CommandName[] = ['unit'];
const sockactOnly = 'use --shape sockact';

const ROWS: readonly OptionRow[] = [
  {
    name: 'listen',
    alias: ['l'],
    kind: 'repeatable',
    arg: 'ADDR',
    group: 'Sockets',
    commands: both,
    help:
      'Bind and listen on ADDR: PORT, :PORT, a.b.c.d:PORT[%dev], [v6]:PORT[%dev], [v6%dev]:PORT, ' +
      '/path, @abstract; ports in plain decimal, 0 picks a free port. Per-socket options follow after commas: ' +
      'dgram, seqpacket, name=N, backlog=N, reuse-port, freebind, v6only[=no], ' +
      'mode=0660, user=U, group=G, remove-stale, remove-on-exit. A path keeps a comma followed ' +
      'by what cannot be an option (/run/a,b.sock); write \\, for any other comma in a path',
  },
  {
    name: 'datagram',
    alias: ['d'],
    kind: 'flag',
    group: 'Sockets',
    commands: both,
    help: 'Datagram sockets (UDP, UNIX dgram) instead of stream',
  },
  {
    name: 'seqpacket',
    kind: 'flag',
    group: 'Sockets',
    commands: both,
    help: 'SOCK_SEQPACKET UNIX sockets instead of stream',
  },
  {
    name: 'fdname',
    kind: 'repeatable',
    arg: 'NAME[:NAME...]',
    group: 'Sockets',
    commands: both,
    help:
      'Names for the sockets (LISTEN_FDNAMES), inherited ones first; ' +
      'one name is given to every socket, and with -a to every connection',
  },
  {
    name: 'backlog',
    kind: 'value',
    type: 'count',
    max: INT_MAX,
    maxWhy: 'listen(2) takes an int',
    arg: 'N',
    group: 'Per-socket defaults',
    commands: both,
    help: 'listen() backlog',
    default: 'net.core.somaxconn',
    defaultNote: 'as systemd passes INT_MAX',
  },
  {
    name: 'reuse-port',
    kind: 'flag',
    group: 'Per-socket defaults',
    commands: both,
    help: 'SO_REUSEPORT on IP sockets',
  },
  {
    name: 'freebind',
    kind: 'flag',
    group: 'Per-socket defaults',
    commands: both,
    help: 'IP_FREEBIND: bind addresses not (yet) configured',
  },
  {
    name: 'socket-mode',
    kind: 'value',
    type: 'mode',
    arg: 'MODE',
    group: 'Per-socket defaults',
    commands: both,
    help: 'Mode of UNIX socket files',
    default: '0666',
  },
  {
    name: 'socket-user',
    kind: 'value',
    arg: 'USER',
    group: 'Per-socket defaults',
    commands: both,
    help: 'Owner of UNIX socket files',
  },
  {
    name: 'socket-group',
    kind: 'value',
    arg: 'GROUP',
    group: 'Per-socket defaults',
    commands: both,
    help: 'Group of UNIX socket files',
  },
  {
    name: 'remove-stale',
    kind: 'flag',
    group: 'Per-socket defaults',
    commands: both,
    help: 'Replace an existing socket file (only a socket: never a regular file or a symlink)',
  },
  {
    name: 'remove-on-exit',
    kind: 'flag',
    group: 'Per-socket defaults',
    commands: both,
    help: 'Remove socket files when sockact exits',
  },
  {
    name: 'setenv',
    alias: ['E', 'environment'],
    kind: 'repeatable',
    arg: 'NAME[=VALUE]',
    group: 'Program',
    commands: both,
    help: "Set a variable for the program; NAME alone passes sockact's own value (empty when unset)",
  },
  {
    name: 'user',
    kind: 'value',
    arg: 'USER',
    group: 'Program',
    commands: both,
    help: 'Run the program as USER (sockets are bound first, as root)',
  },
  {
    name: 'group',
    kind: 'value',
    arg: 'GROUP',
    group: 'Program',
    commands: both,
    help: 'Run the program with GROUP',
    default: "USER's primary group",
  },
  { name: 'now', kind: 'flag', group: 'Program', commands: both, help: 'Start the program at once (the default)' },
  {
    name: 'on-demand',
    kind: 'flag',
    group: 'Program',
    commands: both,
    help: 'Start the program on the first connection or datagram, without accepting it',
  },
  {
    name: 'wrapper',
    kind: 'flag',
    group: 'Program',
    commands: both,
    unit: { directRefused: 'systemd passes the sockets to PROGRAM only; make PROGRAM exec the app', passed: false },
    help:
      'PROGRAM is a wrapper (npm start, a shell script without exec): also offer the sockets to ' +
      "its descendants over a private socket (SOCKACT_FDS_SOCKET), which sockact's listenFds() asks",
  },
  {
    name: 'restart',
    kind: 'value',
    type: 'choice',
    choices: ['no', 'on-failure', 'always'],
    arg: 'POLICY',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directive: 'Restart', passed: true },
    help:
      'When a child ends on its own: no, on-failure (non-zero exit, ' +
      'a signal, a missed watchdog or ready timeout), always',
    default: 'no',
    defaultNote: "as systemd's Restart=: a plain launch exits with its program",
  },
  {
    name: 'restart-delay',
    kind: 'value',
    ...duration,
    arg: 'TIME',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directive: 'RestartSec', passed: true },
    help: 'Wait this long before a restart, doubling on each failure in a row; a clean exit starts over',
    default: '100ms',
  },
  {
    name: 'restart-delay-max',
    kind: 'value',
    ...duration,
    arg: 'TIME',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: {
      directRefused: 'systemd 252 restarts after a fixed RestartSec=; RestartMaxDelaySec= is systemd 254+',
      passed: true,
    },
    help: 'The longest restart delay',
    default: '10s',
  },
  {
    name: 'start-limit-burst',
    kind: 'value',
    type: 'count',
    max: INT_MAX,
    maxWhy: 'an int, as StartLimitBurst=',
    arg: 'N',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directive: 'StartLimitBurst', section: 'Unit', passed: true },
    help: 'Give up (exit 1) after more than N restarts within --start-limit-interval',
    default: '5',
    defaultNote: 'as systemd',
  },
  {
    name: 'start-limit-interval',
    kind: 'value',
    ...duration,
    arg: 'TIME',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directive: 'StartLimitIntervalSec', section: 'Unit', passed: true },
    help: 'The crash-loop window; 0 never gives up, as StartLimitIntervalSec=0',
    default: '10s',
    defaultNote: 'as systemd',
  },
  {
    name: 'ready',
    kind: 'value',
    ...duration,
    type: 'readiness',
    arg: 'HOW',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: {
      passed: true,
      says: 'notify: Type=notify; TIME: Type=exec and ExecStartPost=/bin/sleep TIME; auto: refused',
    },
    help:
      'When a child counts as ready: auto (READY=1 once the program has spoken sd_notify; ' +
      'until then, as soon as it is seen waiting for connections on its sockets, ' +
      'or after 3s alive when that cannot be seen), notify (READY=1 only), or a TIME it must stay alive',
    default: 'auto',
  },
  {
    name: 'ready-timeout',
    kind: 'value',
    ...duration,
    off: 'infinity',
    arg: 'TIME',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directive: 'TimeoutStartSec', passed: true },
    help: 'A child not ready by then is stopped; on reload the old generation keeps serving. 0 or infinity: no limit',
    default: '90s',
    defaultNote: 'as TimeoutStartSec=',
  },
  {
    name: 'stop-signal',
    kind: 'value',
    type: 'signal',
    arg: 'SIG',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directive: 'KillSignal', passed: true },
    help: 'Signal that asks a child to stop',
    default: 'SIGTERM',
  },
  {
    name: 'stop-timeout',
    kind: 'value',
    ...duration,
    off: 'infinity',
    arg: 'TIME',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directive: 'TimeoutStopSec', passed: true },
    help:
      'SIGKILL a child still running this long after the stop signal. ' +
      '0 or infinity: no limit, it may drain for as long as it takes',
    default: '30s',
    defaultNote: 'as TimeoutStopSec=',
  },
  {
    name: 'reload-signal',
    kind: 'value',
    type: 'signal',
    arg: 'SIG',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { passed: true, says: 'ExecReload=/bin/kill -s SIG $MAINPID (ReloadSignal= with --notify-reload)' },
    help: 'On reload, send SIG to the program (which reloads itself) instead of starting a new generation',
  },
  {
    name: 'workers',
    kind: 'value',
    type: 'count',
    max: MOST_WORKERS,
    maxWhy: 'one process each',
    arg: 'N',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directRefused: `systemd runs one main process per service: ${sockactOnly}`, passed: true },
    help: 'Run N children on the same sockets (one shared accept queue), each with SOCKACT_WORKER=0..N-1',
    default: '1',
  },
  {
    name: 'rolling',
    kind: 'flag',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directRefused: sockactOnly, passed: true },
    help:
      'Reload workers one at a time (at most N+1 processes) instead of all at once (the default: ' +
      'no old code serves once a reload succeeded)',
  },
  {
    name: 'watch',
    kind: 'repeatable',
    arg: 'PATH',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directRefused: sockactOnly, passed: true },
    help:
      'Reload when a file under PATH changes (node_modules and .git are ignored); ' +
      'a new generation that fails leaves the last good one serving',
  },
  {
    name: 'watch-debounce',
    kind: 'value',
    ...duration,
    arg: 'TIME',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directRefused: sockactOnly, passed: true },
    help: 'Reload once changes have stopped for this long',
    default: '200ms',
  },
  {
    name: 'watchdog-sec',
    kind: 'value',
    ...duration,
    off: '0',
    arg: 'TIME',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directive: 'WatchdogSec', passed: true },
    help:
      'Give children WATCHDOG_USEC and their own pid in WATCHDOG_PID; one that stops sending WATCHDOG=1 gets ' +
      'SIGABRT and is restarted. Without it, or with 0 or infinity, there is no watchdog, as with WatchdogSec=0',
  },
  {
    name: 'control',
    kind: 'value',
    arg: 'PATH',
    group: 'Supervisor',
    commands: ['launch', 'unit', 'control'],
    unit: { directRefused: `systemctl is the control: ${sockactOnly}`, passed: true },
    help: 'The control socket for sockact status|reload|stop',
    default: 'DIR/NAME.sock',
    defaultNote: 'DIR being /run/sockact as root, else $XDG_RUNTIME_DIR/sockact',
  },
  {
    name: 'name',
    kind: 'value',
    arg: 'NAME',
    group: 'Supervisor',
    commands: ['launch', 'control'],
    help: "Name this sockact's control socket DIR/NAME.sock; sockact status --name NAME finds it",
    default: 'its pid',
    defaultNote: '--control overrides',
  },
  {
    name: 'takeover',
    kind: 'flag',
    group: 'Supervisor',
    commands: launchOnly,
    supervised: true,
    unit: { refused: 'systemctl reload replaces the program: use --shape sockact' },
    help:
      'Deploy: take the listening sockets of the sockact at --control PATH (or --name NAME) ' +
      'that have the address of an -l here (port 0 matches none; others are bound), start PROGRAM, ' +
      'and once it is ready take the control socket and tell the old sockact to drain its children and exit 0; ' +
      'a program that fails leaves the old one serving. With nobody at PATH, start as usual',
  },
  {
    name: 'prefix',
    kind: 'flag',
    group: 'Supervisor',
    commands: both,
    supervised: true,
    unit: { directRefused: `the journal marks every line with the unit: ${sockactOnly}`, passed: true },
    help: "Prefix each line the children write with '[GENERATION.WORKER PID] ' (their output then goes through a pipe)",
  },
  {
    name: 'fd-store',
    kind: 'flag',
    group: 'Supervisor',
    commands: both,
    help:
      "Keep the sockets in systemd's fd store (FDSTORE=1 over NOTIFY_SOCKET) and take " +
      'them back on start, so a restart of sockact binds nothing again and refuses nothing',
    default: 'on when systemd sets $FDSTORE',
    defaultNote: 'i.e. FileDescriptorStoreMax= on systemd 254+',
  },
  {
    name: 'daemon',
    kind: 'flag',
    group: 'Daemon',
    commands: launchOnly,
    unit: { refused: 'systemd runs sockact in the foreground, Type=notify' },
    help:
      'Detach (a new session, no terminal, working directory /, umask 022, stdio to /dev/null or --log-file); ' +
      'the command returns 0 once the first generation is ready, or fails with the reason',
    default: 'stay in the foreground',
  },
  {
    name: 'pid-file',
    kind: 'value',
    arg: 'FILE',
    group: 'Daemon',
    commands: launchOnly,
    unit: { refused: 'systemd knows the main pid' },
    help:
      'Write the pid to FILE (atomically) once sockact serves, remove it on exit; ' +
      'refuse to start while FILE names a running sockact',
    default: 'none',
  },
  {
    name: 'log-file',
    kind: 'value',
    arg: 'FILE',
    group: 'Daemon',
    commands: launchOnly,
    unit: { refused: 'the journal keeps the output' },
    help: "With --daemon: append sockact's messages and the program's output to FILE",
    default: '/dev/null',
  },
  {
    name: 'accept',
    alias: ['a'],
    kind: 'flag',
    group: 'Accept mode',
    commands: both,
    help: 'Accept connections and start one program per connection, at fd 3',
  },
  {
    name: 'inetd',
    kind: 'flag',
    group: 'Accept mode',
    commands: both,
    help: 'Pass the socket (with -a: the connection) on stdin and stdout instead',
  },
  {
    name: 'max-connections',
    kind: 'value',
    type: 'count',
    max: MOST_CONNECTIONS,
    maxWhy: 'one process each, and the smallest default pid_max is 32768',
    arg: 'N',
    group: 'Accept mode',
    commands: both,
    help: 'At most N programs at once with -a; more connections wait',
    default: '64',
  },
  {
    name: 'quiet',
    alias: ['q'],
    kind: 'flag',
    group: 'Other',
    commands: both,
    unit: { directRefused: 'there is no sockact to be quiet', passed: false },
    help: 'No lifecycle messages on stderr',
  },
  { name: 'help', alias: ['h'], kind: 'flag', group: 'Other', commands: ['launch', 'unit'], help: 'Show this help' },
  { name: 'version', kind: 'flag', group: 'Other', commands: launchOnly, help: 'Show the version' },
  // `sockact unit`'s own.
  {
    name: 'name',
    kind: 'value',
    arg: 'NAME',
    group: 'Unit',
    commands: unitOnly,
    help:
      'Unit name: NAME.service, NAME.socket (NAME-<fdname>.socket when several are needed); ' +
      'with --shape sockact also passed to sockact as --name',
  },
  {
    name: 'shape',
    kind: 'value',
    type: 'choice',
    choices: ['direct', 'sockact'],
    arg: 'direct|sockact',
    group: 'Unit',
    commands: unitOnly,
    help:
      'direct: systemd binds the sockets in .socket units and starts PROGRAM itself, Type=notify. sockact: ' +
      'systemd runs sockact, which binds the sockets and supervises PROGRAM, for zero-downtime `systemctl reload`',
    default: 'direct',
  },
  {
    name: 'socket-units',
    kind: 'flag',
    group: 'Unit',
    commands: unitOnly,
    help:
      'With --shape sockact: systemd holds the sockets in .socket units ' +
      'and sockact passes them through (they outlive sockact itself)',
  },
  {
    name: 'notify-reload',
    kind: 'flag',
    group: 'Unit',
    commands: unitOnly,
    help: 'Type=notify-reload (systemd 253+) instead of Type=notify with ExecReload=/bin/kill (systemd 252)',
  },
  {
    name: 'out',
    kind: 'value',
    arg: 'DIR',
    group: 'Unit',
    commands: unitOnly,
    help: 'Write the unit files into DIR (created if needed) instead of printing them',
  },
  {
    name: 'sockact',
    kind: 'value',
    arg: 'PATH',
    group: 'Unit',
    commands: unitOnly,
    help: 'With --shape sockact: the sockact command in ExecStart=',
    default: "this node binary and this sockact's bin/sockact.js",
  },
];

/** The help text of a row: what it does, then its default. */
function describe(o: OptionRow): string {
  if (o.default === undefined) return o.help;
  return `${o.help} (default ${o.default}${o.defaultNote ? `, ${o.defaultNote}` : ''})`;
}

const withHelp = (o: OptionRow): OptionDef => ({ ...o, describe: describe(o) });

/** Every row with its help text, launch options first, then `sockact unit`'s own. */
export const ALL_OPTIONS: readonly OptionDef[] = ROWS.map(withHelp);

/** The options a command takes, in table order. */
export function optionsOf(command: CommandName): OptionDef[] {
  return ALL_OPTIONS.filter((o) => o.commands.includes(command));
}

/** The range of a numeric option as --help and docs/cli.md write it: "1 to 1024", "up to 2147483.647s". */
export function rangeText(o: OptionRow): string | undefined {
  if (o.type === 'count') return `${o.min ?? 1} to ${o.max}`;
  if (o.type !== 'duration' && o.type !== 'readiness') return undefined;
  return `up to ${o.max! / 1000}s`;
}

/** The launch options: `sockact [options] [--] PROGRAM`. */
export const OPTIONS: readonly OptionDef[] = optionsOf('launch');

/** Words recognised as a subcommand when they come first (a program by such a name goes after --). */
export const SUBCOMMANDS: readonly string[] = ['status', 'reload', 'stop', 'unit'];

export const EXAMPLES: readonly [string, string][] = [
  ['sockact -l 8080 node server.js', 'Serve on port 8080 (IPv4 and IPv6); server.js adopts fd 3'],
  [
    'sockact -l 127.0.0.1:0 -l /tmp/app.sock,mode=0660 -- node server.js --port 3',
    'Two sockets, fds 3 and 4; all after PROGRAM goes to it',
  ],
  ['sockact -l 8080,name=web -l 9090,name=admin --user www node server.js', 'Named sockets, program run unprivileged'],
  [
    'sockact -l 8080 --restart on-failure --workers 2 -- node server.js',
    'Supervise: two workers, restarted when they fail; SIGHUP or `sockact reload` reloads with nothing refused',
  ],
  [
    'sockact -l 127.0.0.1:8080 --watch src -- node src/server.js',
    'A dev loop: reload on every save; a broken save leaves the last good version serving',
  ],
  ['sockact status', 'Generations, pids, readiness of the running sockact (reload and stop likewise)'],
  ['sockact -d -l [::1]:5353 ./resolver', 'A UDP socket'],
  ['sockact --on-demand -l 8080 node server.js', 'Start on the first connection'],
  ['sockact -a --inetd -l 7000 cat', 'One program per connection, the connection on stdin/stdout'],
  [
    '"start": "sockact -l 8080 -- node server.js"',
    'In package.json: put sockact inside the npm script (npm closes inherited fds)',
  ],
  ['sockact --wrapper -l 8080 -- npm start', 'Or let an app that uses sockact fetch its sockets from behind npm'],
];

export const EPILOGUE = [
  'The program gets its sockets at fd 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set ' +
    "to its own pid (exec through /bin/sh); it reads them with sd_listen_fds() or sockact's listen().",
  'Sockets are blocking, as systemd makes them; O_NONBLOCK is shared by every process holding a socket, ' +
    'so once a Node or Go program sets it, a program started later sees it set.',
  'Wrappers break LISTEN_PID: npm, yarn and npx start the real program as their own child and close inherited fds. ' +
    'Run sockact inside the script instead, or end a shell script with `exec node server.js`; ' +
    "or, for an app that reads its sockets with sockact's listenFds(), add --wrapper: " +
    'sockact then also offers the sockets over a private socket, only to descendants of PROGRAM running as its user. ' +
    "There is no LISTEN_PID-less mode (systemfd's --no-pid): libsystemd would refuse it, and it would hand the " +
    'sockets to whichever process reads them first.',
  'sockact keeps its own copy of every listening socket while it runs: a client can connect after the program ' +
    "closed its listener, and waits for the next one. Socket options are systemd's: SO_REUSEADDR on every socket, " +
    'the backlog up to net.core.somaxconn, IPV6_V6ONLY as net.ipv6.bindv6only says unless v6only is given.',
  'Departures from systemd-socket-activate: the program starts at once (--on-demand waits); ' +
    "sockact stays its parent; it gets sockact's whole environment; socket files are 0666 (SocketMode=), not 0644; " +
    'ports are plain decimal (010 is refused where systemd reads 8); -l takes options after commas; --fdname names ' +
    "must fit the fds; accept-mode connections are named 'connection'; inherited sockets keep their names.",
  "Exit status: the program's own; when it was killed by a signal sockact ends by the same signal; " +
    '2 for a usage error, 126/127 for a program that cannot run or is not found, 1 when a socket cannot be bound.',
].join('\n\n');
