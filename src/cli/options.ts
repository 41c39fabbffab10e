/**
 * The launcher's options, declared once. The launch path parses argv from this table with
 * yargs-parser alone (fast to load); --help builds full yargs from the same table, lazily.
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
  group: 'Sockets' | 'Per-socket defaults' | 'Program' | 'Accept mode' | 'Other';
}

export const OPTIONS: readonly OptionDef[] = [
  { name: 'listen', alias: ['l'], kind: 'repeatable', arg: 'ADDR', group: 'Sockets',
    describe: 'Bind and listen on ADDR: PORT, :PORT, a.b.c.d:PORT, [v6]:PORT, [v6%dev]:PORT, /path, @abstract; port 0 picks a free port. Per-socket options follow after commas: dgram, seqpacket, name=N, backlog=N, reuse-port, freebind, v6only, mode=0660, user=U, group=G, remove-stale, remove-on-exit' },
  { name: 'datagram', alias: ['d'], kind: 'flag', group: 'Sockets', describe: 'Datagram sockets (UDP, UNIX dgram) instead of stream' },
  { name: 'seqpacket', kind: 'flag', group: 'Sockets', describe: 'SOCK_SEQPACKET UNIX sockets instead of stream' },
  { name: 'fdname', kind: 'repeatable', arg: 'NAME[:NAME...]', group: 'Sockets',
    describe: 'Names for the new sockets (LISTEN_FDNAMES); one name is given to every socket' },
  { name: 'backlog', kind: 'value', arg: 'N', group: 'Per-socket defaults', describe: 'listen() backlog (default 4096, capped by net.core.somaxconn)' },
  { name: 'reuse-port', kind: 'flag', group: 'Per-socket defaults', describe: 'SO_REUSEPORT on IP sockets' },
  { name: 'freebind', kind: 'flag', group: 'Per-socket defaults', describe: 'IP_FREEBIND: bind addresses not (yet) configured' },
  { name: 'socket-mode', kind: 'value', arg: 'MODE', group: 'Per-socket defaults', describe: 'Mode of UNIX socket files (default 0666)' },
  { name: 'socket-user', kind: 'value', arg: 'USER', group: 'Per-socket defaults', describe: 'Owner of UNIX socket files' },
  { name: 'socket-group', kind: 'value', arg: 'GROUP', group: 'Per-socket defaults', describe: 'Group of UNIX socket files' },
  { name: 'remove-stale', kind: 'flag', group: 'Per-socket defaults', describe: 'Replace an existing socket file (only a socket: never a regular file or a symlink)' },
  { name: 'remove-on-exit', kind: 'flag', group: 'Per-socket defaults', describe: 'Remove socket files when sockact exits' },
  { name: 'setenv', alias: ['E', 'environment'], kind: 'repeatable', arg: 'NAME[=VALUE]', group: 'Program',
    describe: "Set a variable for the program; NAME alone passes sockact's own value" },
  { name: 'user', kind: 'value', arg: 'USER', group: 'Program', describe: 'Run the program as USER (sockets are bound first, as root)' },
  { name: 'group', kind: 'value', arg: 'GROUP', group: 'Program', describe: "Run the program with GROUP (default: USER's primary group)" },
  { name: 'now', kind: 'flag', group: 'Program', describe: 'Start the program at once (the default)' },
  { name: 'on-demand', kind: 'flag', group: 'Program', describe: 'Start the program on the first connection or datagram, without accepting it' },
  { name: 'wrapper', kind: 'flag', group: 'Program',
    describe: "PROGRAM is a wrapper (npm start, a shell script without exec): also offer the sockets to its descendants over a private socket (SOCKACT_FDS_SOCKET), which sockact's listenFds() asks" },
  { name: 'accept', alias: ['a'], kind: 'flag', group: 'Accept mode', describe: 'Accept connections and start one program per connection, at fd 3' },
  { name: 'inetd', kind: 'flag', group: 'Accept mode', describe: 'Pass the socket (with -a: the connection) on stdin and stdout instead' },
  { name: 'max-connections', kind: 'value', arg: 'N', group: 'Accept mode', describe: 'At most N programs at once with -a (default 64); more connections wait' },
  { name: 'quiet', alias: ['q'], kind: 'flag', group: 'Other', describe: 'No lifecycle messages on stderr' },
  { name: 'help', alias: ['h'], kind: 'flag', group: 'Other', describe: 'Show this help' },
  { name: 'version', kind: 'flag', group: 'Other', describe: 'Show the version' },
];

/** Words recognised as a subcommand when they come first (a program by such a name goes after --). */
export const SUBCOMMANDS: readonly string[] = ['unit'];

export const EXAMPLES: readonly [string, string][] = [
  ['sockact -l 8080 node server.js', 'Serve on port 8080 (IPv4 and IPv6); server.js adopts fd 3'],
  ['sockact -l 127.0.0.1:0 -l /tmp/app.sock,mode=0660 -- node server.js --port 3', 'Two sockets, fds 3 and 4; all after PROGRAM goes to it'],
  ['sockact -l 8080,name=web -l 9090,name=admin --user www node server.js', 'Named sockets, program run unprivileged'],
  ['sockact -d -l [::1]:5353 ./resolver', 'A UDP socket'],
  ['sockact --on-demand -l 8080 node server.js', 'Start on the first connection'],
  ['sockact -a --inetd -l 7000 cat', 'One program per connection, the connection on stdin/stdout'],
  ['"start": "sockact -l 8080 -- node server.js"', 'In package.json: put sockact inside the npm script (npm closes inherited fds)'],
  ['sockact --wrapper -l 8080 -- npm start', 'Or let an app that uses sockact fetch its sockets from behind npm'],
];

export const EPILOGUE = [
  'The program gets its sockets at fd 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set to its own pid (exec through /bin/sh); it reads them with sd_listen_fds() or sockact\'s listen().',
  "Sockets are blocking, as systemd makes them; O_NONBLOCK is shared by every process holding a socket, so once a Node or Go program sets it, a program started later sees it set.",
  "Wrappers break LISTEN_PID: npm, yarn and npx start the real program as their own child and close inherited fds. Run sockact inside the script instead, or end a shell script with `exec node server.js`; or, for an app that reads its sockets with sockact's listenFds(), add --wrapper: sockact then also offers the sockets over a private socket, only to descendants of PROGRAM running as its user. There is no LISTEN_PID-less mode (systemfd's --no-pid): libsystemd would refuse it, and it would hand the sockets to whichever process reads them first.",
  'Exit status: the program\'s own; when it was killed by a signal sockact ends by the same signal; 2 for a usage error, 126/127 for a program that cannot run or is not found, 1 when a socket cannot be bound.',
].join('\n\n');
