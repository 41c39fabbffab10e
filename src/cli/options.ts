/**
 * The launcher's options, declared once. The launch path parses argv from this table with
 * a getopt_long(3) of its own (cli/parse.ts); --help builds full yargs from the same table, lazily.
 * Names follow systemd-socket-activate(1) where it has the option, with the same meaning.
 */
export interface OptionDef {
  /** The long name, as written after `--`. */
  name: string;
  alias?: string[];
  /** Flags take no value; the others take one (repeatable ones collect every value). */
  kind: 'flag' | 'value' | 'repeatable';
  /** What --help shows after the option, e.g. ADDR. */
  arg?: string;
  describe: string;
  group: 'Sockets' | 'Per-socket defaults' | 'Program' | 'Supervisor' | 'Daemon' | 'Accept mode' | 'Other';
}

export const OPTIONS: readonly OptionDef[] = [
  {
    name: 'listen',
    alias: ['l'],
    kind: 'repeatable',
    arg: 'ADDR',
    group: 'Sockets',
    describe:
      'Bind and listen on ADDR: PORT, :PORT, a.b.c.d:PORT[%dev], [v6]:PORT[%dev], [v6%dev]:PORT, /path, @abstract; ports in plain decimal, 0 picks a free port. Per-socket options follow after commas: dgram, seqpacket, name=N, backlog=N, reuse-port, freebind, v6only[=no], mode=0660, user=U, group=G, remove-stale, remove-on-exit. A path keeps a comma followed by what cannot be an option (/run/a,b.sock); write \\, for any other comma in a path',
  },
  { name: 'datagram', alias: ['d'], kind: 'flag', group: 'Sockets', describe: 'Datagram sockets (UDP, UNIX dgram) instead of stream' },
  { name: 'seqpacket', kind: 'flag', group: 'Sockets', describe: 'SOCK_SEQPACKET UNIX sockets instead of stream' },
  {
    name: 'fdname',
    kind: 'repeatable',
    arg: 'NAME[:NAME...]',
    group: 'Sockets',
    describe: 'Names for the sockets (LISTEN_FDNAMES), inherited ones first; one name is given to every socket, and with -a to every connection',
  },
  {
    name: 'backlog',
    kind: 'value',
    arg: 'N',
    group: 'Per-socket defaults',
    describe: 'listen() backlog (default: net.core.somaxconn, as systemd passes INT_MAX)',
  },
  { name: 'reuse-port', kind: 'flag', group: 'Per-socket defaults', describe: 'SO_REUSEPORT on IP sockets' },
  { name: 'freebind', kind: 'flag', group: 'Per-socket defaults', describe: 'IP_FREEBIND: bind addresses not (yet) configured' },
  { name: 'socket-mode', kind: 'value', arg: 'MODE', group: 'Per-socket defaults', describe: 'Mode of UNIX socket files (default 0666)' },
  { name: 'socket-user', kind: 'value', arg: 'USER', group: 'Per-socket defaults', describe: 'Owner of UNIX socket files' },
  { name: 'socket-group', kind: 'value', arg: 'GROUP', group: 'Per-socket defaults', describe: 'Group of UNIX socket files' },
  {
    name: 'remove-stale',
    kind: 'flag',
    group: 'Per-socket defaults',
    describe: 'Replace an existing socket file (only a socket: never a regular file or a symlink)',
  },
  { name: 'remove-on-exit', kind: 'flag', group: 'Per-socket defaults', describe: 'Remove socket files when sockact exits' },
  {
    name: 'setenv',
    alias: ['E', 'environment'],
    kind: 'repeatable',
    arg: 'NAME[=VALUE]',
    group: 'Program',
    describe: "Set a variable for the program; NAME alone passes sockact's own value (empty when unset)",
  },
  { name: 'user', kind: 'value', arg: 'USER', group: 'Program', describe: 'Run the program as USER (sockets are bound first, as root)' },
  { name: 'group', kind: 'value', arg: 'GROUP', group: 'Program', describe: "Run the program with GROUP (default: USER's primary group)" },
  { name: 'now', kind: 'flag', group: 'Program', describe: 'Start the program at once (the default)' },
  { name: 'on-demand', kind: 'flag', group: 'Program', describe: 'Start the program on the first connection or datagram, without accepting it' },
  {
    name: 'wrapper',
    kind: 'flag',
    group: 'Program',
    describe:
      "PROGRAM is a wrapper (npm start, a shell script without exec): also offer the sockets to its descendants over a private socket (SOCKACT_FDS_SOCKET), which sockact's listenFds() asks",
  },
  {
    name: 'restart',
    kind: 'value',
    arg: 'POLICY',
    group: 'Supervisor',
    describe:
      "When a child ends on its own: no (default, as systemd's Restart=: a plain launch exits with its program), on-failure (non-zero exit, a signal, a missed watchdog or ready timeout), always",
  },
  {
    name: 'restart-delay',
    kind: 'value',
    arg: 'TIME',
    group: 'Supervisor',
    describe: 'Wait before a restart, doubling on each failure in a row; a clean exit starts over (default 100ms)',
  },
  { name: 'restart-delay-max', kind: 'value', arg: 'TIME', group: 'Supervisor', describe: 'The longest restart delay (default 10s)' },
  {
    name: 'start-limit-burst',
    kind: 'value',
    arg: 'N',
    group: 'Supervisor',
    describe: 'Give up (exit 1) after more than N restarts within --start-limit-interval (default 5, as systemd)',
  },
  { name: 'start-limit-interval', kind: 'value', arg: 'TIME', group: 'Supervisor', describe: 'The crash-loop window (default 10s, as systemd)' },
  {
    name: 'ready',
    kind: 'value',
    arg: 'HOW',
    group: 'Supervisor',
    describe:
      'When a child counts as ready: auto (default: READY=1 once the program has spoken sd_notify; until then, as soon as it is seen waiting for connections on its sockets, or after 3s alive when that cannot be seen), notify (READY=1 only), or a TIME it must stay alive',
  },
  {
    name: 'ready-timeout',
    kind: 'value',
    arg: 'TIME',
    group: 'Supervisor',
    describe: 'A child not ready by then is stopped; on reload the old generation keeps serving (default 90s, as TimeoutStartSec=)',
  },
  { name: 'stop-signal', kind: 'value', arg: 'SIG', group: 'Supervisor', describe: 'Signal that asks a child to stop (default SIGTERM)' },
  {
    name: 'stop-timeout',
    kind: 'value',
    arg: 'TIME',
    group: 'Supervisor',
    describe: 'SIGKILL a child still running this long after the stop signal (default 30s)',
  },
  {
    name: 'reload-signal',
    kind: 'value',
    arg: 'SIG',
    group: 'Supervisor',
    describe: 'On reload, send SIG to the program (which reloads itself) instead of starting a new generation',
  },
  {
    name: 'workers',
    kind: 'value',
    arg: 'N',
    group: 'Supervisor',
    describe: 'Run N children on the same sockets (one shared accept queue), each with SOCKACT_WORKER=0..N-1 (default 1)',
  },
  {
    name: 'rolling',
    kind: 'flag',
    group: 'Supervisor',
    describe: 'Reload workers one at a time (at most N+1 processes) instead of all at once (the default: no old code serves once a reload succeeded)',
  },
  {
    name: 'watch',
    kind: 'repeatable',
    arg: 'PATH',
    group: 'Supervisor',
    describe: 'Reload when a file under PATH changes (node_modules and .git are ignored); a new generation that fails leaves the last good one serving',
  },
  { name: 'watch-debounce', kind: 'value', arg: 'TIME', group: 'Supervisor', describe: 'Reload once changes have stopped for this long (default 200ms)' },
  {
    name: 'watchdog-sec',
    kind: 'value',
    arg: 'TIME',
    group: 'Supervisor',
    describe: 'Give children WATCHDOG_USEC and their own pid in WATCHDOG_PID; one that stops sending WATCHDOG=1 gets SIGABRT and is restarted',
  },
  {
    name: 'control',
    kind: 'value',
    arg: 'PATH',
    group: 'Supervisor',
    describe: 'The control socket for sockact status|reload|stop (default: DIR/NAME.sock, DIR being /run/sockact as root, else $XDG_RUNTIME_DIR/sockact)',
  },
  {
    name: 'name',
    kind: 'value',
    arg: 'NAME',
    group: 'Supervisor',
    describe: "Name this sockact's control socket DIR/NAME.sock (default: its pid; --control overrides); sockact status --name NAME finds it",
  },
  {
    name: 'takeover',
    kind: 'flag',
    group: 'Supervisor',
    describe:
      'Deploy: take the listening sockets of the sockact at --control PATH (or --name NAME) that have the address of an -l here (port 0 matches none; others are bound), start PROGRAM, and once it is ready take the control socket and tell the old sockact to drain its children and exit 0; a program that fails leaves the old one serving. With nobody at PATH, start as usual',
  },
  {
    name: 'prefix',
    kind: 'flag',
    group: 'Supervisor',
    describe: "Prefix each line the children write with '[GENERATION.WORKER PID] ' (their output then goes through a pipe)",
  },
  {
    name: 'fd-store',
    kind: 'flag',
    group: 'Supervisor',
    describe:
      "Keep the sockets in systemd's fd store (FDSTORE=1 over NOTIFY_SOCKET) and take them back on start, so a restart of sockact binds nothing again and refuses nothing (default: on when systemd sets $FDSTORE, i.e. FileDescriptorStoreMax= on systemd 254+)",
  },
  {
    name: 'daemon',
    kind: 'flag',
    group: 'Daemon',
    describe:
      'Detach (a new session, no terminal, working directory /, umask 022, stdio to /dev/null or --log-file); the command returns 0 once the first generation is ready, or fails with the reason (default: stay in the foreground)',
  },
  {
    name: 'pid-file',
    kind: 'value',
    arg: 'FILE',
    group: 'Daemon',
    describe: 'Write the pid to FILE (atomically) once sockact serves, remove it on exit; refuse to start while FILE names a running sockact (default: none)',
  },
  {
    name: 'log-file',
    kind: 'value',
    arg: 'FILE',
    group: 'Daemon',
    describe: "With --daemon: append sockact's messages and the program's output to FILE (default: /dev/null)",
  },
  { name: 'accept', alias: ['a'], kind: 'flag', group: 'Accept mode', describe: 'Accept connections and start one program per connection, at fd 3' },
  { name: 'inetd', kind: 'flag', group: 'Accept mode', describe: 'Pass the socket (with -a: the connection) on stdin and stdout instead' },
  {
    name: 'max-connections',
    kind: 'value',
    arg: 'N',
    group: 'Accept mode',
    describe: 'At most N programs at once with -a (default 64); more connections wait',
  },
  { name: 'quiet', alias: ['q'], kind: 'flag', group: 'Other', describe: 'No lifecycle messages on stderr' },
  { name: 'help', alias: ['h'], kind: 'flag', group: 'Other', describe: 'Show this help' },
  { name: 'version', kind: 'flag', group: 'Other', describe: 'Show the version' },
];

/** Words recognised as a subcommand when they come first (a program by such a name goes after --). */
export const SUBCOMMANDS: readonly string[] = ['status', 'reload', 'stop', 'unit'];

export const EXAMPLES: readonly [string, string][] = [
  ['sockact -l 8080 node server.js', 'Serve on port 8080 (IPv4 and IPv6); server.js adopts fd 3'],
  ['sockact -l 127.0.0.1:0 -l /tmp/app.sock,mode=0660 -- node server.js --port 3', 'Two sockets, fds 3 and 4; all after PROGRAM goes to it'],
  ['sockact -l 8080,name=web -l 9090,name=admin --user www node server.js', 'Named sockets, program run unprivileged'],
  [
    'sockact -l 8080 --restart on-failure --workers 2 -- node server.js',
    'Supervise: two workers, restarted when they fail; SIGHUP or `sockact reload` reloads with nothing refused',
  ],
  ['sockact -l 127.0.0.1:8080 --watch src -- node src/server.js', 'A dev loop: reload on every save; a broken save leaves the last good version serving'],
  ['sockact status', 'Generations, pids, readiness of the running sockact (reload and stop likewise)'],
  ['sockact -d -l [::1]:5353 ./resolver', 'A UDP socket'],
  ['sockact --on-demand -l 8080 node server.js', 'Start on the first connection'],
  ['sockact -a --inetd -l 7000 cat', 'One program per connection, the connection on stdin/stdout'],
  ['"start": "sockact -l 8080 -- node server.js"', 'In package.json: put sockact inside the npm script (npm closes inherited fds)'],
  ['sockact --wrapper -l 8080 -- npm start', 'Or let an app that uses sockact fetch its sockets from behind npm'],
];

export const EPILOGUE = [
  "The program gets its sockets at fd 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set to its own pid (exec through /bin/sh); it reads them with sd_listen_fds() or sockact's listen().",
  'Sockets are blocking, as systemd makes them; O_NONBLOCK is shared by every process holding a socket, so once a Node or Go program sets it, a program started later sees it set.',
  "Wrappers break LISTEN_PID: npm, yarn and npx start the real program as their own child and close inherited fds. Run sockact inside the script instead, or end a shell script with `exec node server.js`; or, for an app that reads its sockets with sockact's listenFds(), add --wrapper: sockact then also offers the sockets over a private socket, only to descendants of PROGRAM running as its user. There is no LISTEN_PID-less mode (systemfd's --no-pid): libsystemd would refuse it, and it would hand the sockets to whichever process reads them first.",
  "sockact keeps its own copy of every listening socket while it runs: a client can connect after the program closed its listener, and waits for the next one. Socket options are systemd's: SO_REUSEADDR on every socket, the backlog up to net.core.somaxconn, IPV6_V6ONLY as net.ipv6.bindv6only says unless v6only is given.",
  "Departures from systemd-socket-activate: the program starts at once (--on-demand waits); sockact stays its parent; it gets sockact's whole environment; socket files are 0666 (SocketMode=), not 0644; ports are plain decimal (010 is refused where systemd reads 8); -l takes options after commas; --fdname names must fit the fds; accept-mode connections are named 'connection'; inherited sockets keep their names.",
  "Exit status: the program's own; when it was killed by a signal sockact ends by the same signal; 2 for a usage error, 126/127 for a program that cannot run or is not found, 1 when a socket cannot be bound.",
].join('\n\n');
