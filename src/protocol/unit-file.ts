import type { ListenAddress, ListenSpec } from './address.js';
import { formatSockAddr } from './sockaddr.js';
import { quote, SockactError } from './errors.js';

/**
 * Writing systemd unit files: sections and values, command lines and environment assignments
 * quoted the way systemd reads them back, durations, and the .socket units for a set of -l
 * values. Pure text: no OS calls (`sockact unit` in cli/unit.ts decides what goes in them).
 */

export interface UnitFile {
  /** The file name, e.g. web.socket or web@.service. */
  file: string;
  text: string;
}

/** One [Section] and its lines, in order; a key may repeat (ListenStream=, Environment=). */
export type Section = [name: string, lines: [key: string, value: string][]];

/** A unit's text: optional leading comment lines, then the sections, an empty line between them. */
export function renderUnit(sections: readonly Section[], comment: readonly string[] = []): string {
  const parts = sections
    .filter(([, lines]) => lines.length > 0)
    .map(([name, lines]) => [`[${name}]`, ...lines.map(([k, v]) => `${k}=${v}`)].join('\n'));
  return `${comment.map((c) => `# ${c}\n`).join('')}${parts.join('\n\n')}\n`;
}

/** Unit name characters (systemd.unit(5): "[a-zA-Z0-9:_.\\-]", at most 255 with the suffix); '@' marks templates. */
const UNIT_NAME = /^[A-Za-z0-9:_.\\-]+$/;

/** Why `name` cannot prefix a unit name, or undefined when it can. */
export function unitNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (!UNIT_NAME.test(name)) return 'a unit name has only letters, digits and : _ . \\ -';
  if (name.length > 240) return 'a unit name holds at most 255 characters with its suffix';
  return undefined;
}

/**
 * A value with systemd's specifier expansion undone: '%' starts a specifier in almost every
 * setting (systemd.unit(5) "Specifiers"), so a literal one is written '%%'.
 */
export function escapeSpecifiers(text: string): string {
  return text.replace(/%/g, '%%');
}

function cEscape(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this escapes for systemd.
  return text.replace(/[\\"\x00-\x1f\x7f]/g, (c) => {
    if (c === '\\' || c === '"') return `\\${c}`;
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/**
 * One word of an Exec*= command line (systemd.service(5) "Command lines"): words are split on
 * whitespace, double quotes group one with C escapes inside, '%' is a specifier and '$' expands
 * a variable, so literal ones are '%%' and '$$'. A word of plain characters is left bare.
 */
export function execWord(word: string): string {
  const plain = /^[A-Za-z0-9_@+=:,./-]+$/.test(word);
  const text = plain ? word : `"${cEscape(word)}"`;
  return escapeSpecifiers(text).replace(/\$/g, '$$$$');
}

/**
 * Why systemd would refuse `path` as the program of an Exec*= line, or undefined. systemd 252
 * rejects quotes, backslashes and control characters there ("Executable name contains special
 * characters") and does not expand variables in it.
 */
export function execPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'it is not an absolute path';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: systemd refuses them, so we look for them.
  if (/["'\\\x00-\x1f\x7f]/.test(path))
    return 'systemd refuses quotes, backslashes and control characters in an executable path';
  return undefined;
}

/**
 * A whole command line for ExecStart= and the like. The first word is the program: quoted like
 * the others, but '$' stays as it is, since systemd expands no variable in it.
 */
export function execLine(words: readonly string[]): string {
  const [program = '', ...args] = words;
  const problem = execPathProblem(program);
  if (problem)
    throw new SockactError('ERR_UNIT', `${quote(program)} cannot be the program of a unit: ${problem}`, {
      value: program,
    });
  return [execWord(program).replace(/\$\$/g, '$'), ...args.map(execWord)].join(' ');
}

/**
 * One Environment= assignment (systemd.exec(5)): quoted as a whole, C escapes inside, specifiers
 * expanded ('%%'); variables are not expanded there, so '$' stays as it is.
 */
export function environmentValue(name: string, value: string): string {
  return escapeSpecifiers(`"${cEscape(`${name}=${value}`)}"`);
}

/** A duration in the largest unit that keeps it whole: 10s, 100ms, 1500ms, 250us (systemd.time(7) reads each). */
export function formatUsec(usec: number): string {
  if (usec % 1_000_000 === 0) return `${usec / 1_000_000}s`;
  if (usec % 1_000 === 0) return `${usec / 1_000}ms`;
  return `${usec}us`;
}

/** The address as a Listen*= value (systemd.socket(5)): PORT for the dual-stack wildcard, else as -l prints it. */
export function listenValue(a: ListenAddress): string {
  if (a.family === 'inet6' && a.wildcard) return String(a.port);
  return formatSockAddr(a);
}

/**
 * A -l value again, from its parsed form: the address with relative paths made absolute, and
 * every option spelled out (the global defaults such as --backlog already folded in), so that
 * parseListen() reads back the same socket.
 */
export function formatListen(spec: ListenSpec, fdName = spec.name): string {
  const parts = [listenValue(spec.address)];
  if (spec.type !== 'stream') parts.push(spec.type);
  if (fdName !== undefined) parts.push(`name=${fdName}`);
  if (spec.backlog !== undefined) parts.push(`backlog=${spec.backlog}`);
  if (spec.reusePort) parts.push('reuse-port');
  if (spec.freebind) parts.push('freebind');
  if (spec.v6only) parts.push('v6only');
  if (spec.mode !== undefined) parts.push(`mode=${spec.mode.toString(8).padStart(4, '0')}`);
  if (spec.user !== undefined) parts.push(`user=${spec.user}`);
  if (spec.group !== undefined) parts.push(`group=${spec.group}`);
  if (spec.removeStale) parts.push('remove-stale');
  if (spec.removeOnExit) parts.push('remove-on-exit');
  return parts.join(',');
}

const LISTEN_KEY = { stream: 'ListenStream', dgram: 'ListenDatagram', seqpacket: 'ListenSequentialPacket' } as const;

/** A -l value and the name its fd gets (name=, or from --fdname). */
export interface UnitSocket {
  spec: ListenSpec;
  fdName?: string;
}

/** The [Socket] settings one -l value needs besides its Listen*= line (systemd.socket(5)). */
function socketSettings(spec: ListenSpec): [string, string][] {
  if (spec.address.family === 'inet6' && spec.address.scope !== undefined) {
    // systemd.socket(5) has no interface scope in an address (systemd 252 refuses '[fe80::1%lo]:80').
    throw new SockactError(
      'ERR_UNIT',
      `-l ${quote(spec.text)}: a .socket unit cannot say the interface scope ` +
        `'%${spec.address.scope}' (systemd's Listen*= addresses have none)`,
      { value: spec.text },
    );
  }
  if (spec.address.family !== 'unix' && spec.address.port === 0) {
    throw new SockactError(
      'ERR_UNIT',
      `-l ${quote(spec.text)}: a .socket unit needs a fixed port (systemd refuses port 0)`,
      { value: spec.text },
    );
  }
  const out: [string, string][] = [];
  if (spec.backlog !== undefined) out.push(['Backlog', String(spec.backlog)]);
  if (spec.address.family === 'inet6') {
    // sockact sets IPV6_V6ONLY either way; systemd's default follows net.ipv6.bindv6only instead.
    out.push(['BindIPv6Only', spec.v6only ? 'ipv6-only' : 'both']);
  }
  if (spec.reusePort) out.push(['ReusePort', 'yes']);
  if (spec.freebind) out.push(['FreeBind', 'yes']);
  if (spec.address.family === 'unix' && !spec.address.path.startsWith('@')) {
    // Always written: sockact and systemd both default to 0666, but say so in the unit.
    out.push(['SocketMode', (spec.mode ?? 0o666).toString(8).padStart(4, '0')]);
    if (spec.user !== undefined) out.push(['SocketUser', escapeSpecifiers(spec.user)]);
    if (spec.group !== undefined) out.push(['SocketGroup', escapeSpecifiers(spec.group)]);
    if (spec.removeOnExit) out.push(['RemoveOnStop', 'yes']);
  }
  return out;
}

/** Why two -l values cannot share a .socket unit: the first setting they differ in, if any. */
function settingsKey(s: UnitSocket): string {
  return JSON.stringify([s.fdName ?? null, socketSettings(s.spec)]);
}

export interface SocketUnitsOptions {
  /** The NAME of `sockact unit --name NAME`. */
  name: string;
  /** The service they activate (Service=, when it is not NAME.service). */
  service: string;
  accept?: boolean;
  maxConnections?: number;
  /** [Unit] Description= of each. */
  description: string;
  /** Comment lines at the top of each. */
  comment?: string[];
}

/**
 * The .socket units for a list of -l values. Values with the same fd name and the same settings
 * share one unit, whose Listen*= lines keep their order (systemd passes them in order, see
 * sd_listen_fds(3)). Any other set needs several units, and systemd passes the fds of several
 * units to one service "in undefined order" (sd_listen_fds(3)): then each unit must carry a fd
 * name of its own, or the program could not tell its sockets apart - an error naming the -l.
 */
export function socketUnits(sockets: readonly UnitSocket[], o: SocketUnitsOptions): UnitFile[] {
  const groups = groupBySettings(sockets);
  if (groups.length > 1) checkSeparable(groups, o);
  const unitNames = groups.length === 1 ? [o.name] : groups.map((g, i) => separateUnitName(o.name, g[0]!.fdName!, i));
  return groups.map((group, i) => ({ file: `${unitNames[i]}.socket`, text: socketUnitText(group, unitNames[i]!, o) }));
}

/** The -l values in groups of the same fd name and settings, in order of first appearance. */
function groupBySettings(sockets: readonly UnitSocket[]): UnitSocket[][] {
  const byKey = new Map<string, UnitSocket[]>();
  for (const s of sockets) {
    const key = settingsKey(s);
    const group = byKey.get(key);
    if (group) group.push(s);
    else byKey.set(key, [s]);
  }
  return [...byKey.values()];
}

const NO_FIXED_ORDER = 'systemd passes the fds of several units in no fixed order (sd_listen_fds(3))';

/** Throws unless several units are allowed (not --accept) and each has a fd name no other has. */
function checkSeparable(groups: readonly UnitSocket[][], o: SocketUnitsOptions): void {
  if (o.accept) {
    const other = groups[1]![0]!.spec.text;
    const where = `-l ${quote(other)}: with --accept every -l goes into one Accept=yes .socket unit`;
    throw new SockactError('ERR_UNIT', `${where}, so they need the same socket options`, { value: other });
  }
  const seen = new Map<string, string>();
  for (const [first] of groups) {
    const s = first!;
    if (s.fdName === undefined) {
      const what = `-l ${quote(s.spec.text)} needs name=: these -l values need more than one .socket unit`;
      const why = `(their names or socket options differ), and ${NO_FIXED_ORDER}`;
      throw new SockactError('ERR_UNIT', `${what} ${why}`, { value: s.spec.text });
    }
    const other = seen.get(s.fdName);
    if (other !== undefined) {
      const both = `-l ${quote(s.spec.text)} and -l ${quote(other)} are both named '${s.fdName}'`;
      const why = `but need different .socket units: ${NO_FIXED_ORDER}, so give them different names`;
      throw new SockactError('ERR_UNIT', `${both} ${why}`, { value: s.spec.text });
    }
    seen.set(s.fdName, s.spec.text);
  }
}

/** NAME-FDNAME for the unit of one of several groups, or NAME-N when FDNAME cannot be in a unit name. */
function separateUnitName(name: string, fdName: string, i: number): string {
  return unitNameProblem(`${name}-${fdName}`) === undefined ? `${name}-${fdName}` : `${name}-${i + 1}`;
}

/** The .socket unit named `unitName` for one group of -l values. */
function socketUnitText(group: readonly UnitSocket[], unitName: string, o: SocketUnitsOptions): string {
  const first = group[0]!;
  const listen = group.map((s) => listenValue(s.spec.address));
  const socket: [string, string][] = group.map((s, i) => [LISTEN_KEY[s.spec.type], escapeSpecifiers(listen[i]!)]);
  if (first.fdName !== undefined) socket.push(['FileDescriptorName', escapeSpecifiers(first.fdName)]);
  socket.push(...socketSettings(first.spec));
  if (o.accept) {
    socket.push(['Accept', 'yes']);
    if (o.maxConnections !== undefined) socket.push(['MaxConnections', String(o.maxConnections)]);
  } else if (unitName !== o.service.replace(/\.service$/, '')) socket.push(['Service', o.service]);
  const description = escapeSpecifiers(`${o.description}: ${listen.join(', ')}`);
  const sections: Section[] = [
    ['Unit', [['Description', description]]],
    ['Socket', socket],
    ['Install', [['WantedBy', 'sockets.target']]],
  ];
  return renderUnit(sections, o.comment);
}
