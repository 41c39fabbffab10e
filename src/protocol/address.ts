import { resolve } from 'node:path';
import { quote, SockactError } from './errors.js';
import { fdNameProblem } from './fdname.js';
import { isIPv4Text, isIPv6Text } from './ip.js';
import { UNIX_PATH_MAX, type SocketType } from './sockaddr.js';

/**
 * The `-l` grammar of the launcher: systemd.socket's address forms (docs/protocol.md 16) plus
 * sockact's extensions (`:PORT`, port 0, relative paths), each optionally followed by
 * per-socket options: `ADDRESS[,OPTION[=VALUE]...]`, e.g. `8080,backlog=512,name=web`,
 * `/run/app.sock,mode=0660,group=www,remove-stale`, `[::1]:53,dgram`. Pure: no OS calls.
 */

export type ListenAddress =
  /**
   * `scope` is the `%dev` of `a.b.c.d:PORT%dev`: systemd's socket_address_parse() resolves the
   * interface (an unknown one is an error) and then binds a.b.c.d:PORT on every interface, as
   * sockact does; SO_BINDTODEVICE is systemd's BindToDevice=, a separate setting.
   */
  | { family: 'inet'; address: string; port: number; scope?: string }
  /**
   * `wildcard` marks the bare `PORT` / `:PORT` forms: [::]:PORT (dual-stack unless
   * net.ipv6.bindv6only=1), which the binder may fall back to 0.0.0.0:PORT on a host without
   * IPv6 (as systemd does). `scope` is the `%dev` of `[v6%dev]:PORT` or
   * of systemd's `[v6]:PORT%dev`: an interface name or number, the sin6_scope_id, resolved by the binder.
   */
  | { family: 'inet6'; address: string; port: number; scope?: string; wildcard?: boolean }
  /** A path, or an abstract name written `@name` (the '@' stands for the leading NUL). */
  | { family: 'unix'; path: string };

/** What can follow an address after a comma; global flags give the defaults. */
export interface SocketOptions {
  type: SocketType;
  /** The LISTEN_FDNAMES entry for this socket. */
  name?: string;
  /** listen(2) backlog; stream and seqpacket only. */
  backlog?: number;
  reusePort: boolean;
  freebind: boolean;
  /**
   * IPV6_V6ONLY, inet6 only: true (IPv6 only), false (dual-stack, IPv4 too), or unset: the
   * kernel's default, net.ipv6.bindv6only, as systemd's BindIPv6Only=default leaves it.
   */
  v6only?: boolean;
  /** Permission bits of a UNIX socket file (SocketMode=, default 0666 applied by the binder). */
  mode?: number;
  /** Owner and group of a UNIX socket file (SocketUser=, SocketGroup=): a name or a number. */
  user?: string;
  group?: string;
  /** Remove an existing socket file first (never a regular file, never through a symlink). */
  removeStale: boolean;
  /** Remove the socket file when the launcher exits (RemoveOnStop=). */
  removeOnExit: boolean;
}

export interface ListenSpec extends SocketOptions {
  /** The -l value as given, for messages. */
  text: string;
  address: ListenAddress;
}

/**
 * A -l value that cannot be used (code ERR_LISTEN_ADDRESS). The message names the value and what
 * is wrong with it; `fromDefault` names the default (from a global flag) that does not fit it.
 */
export function listenSpecError(value: string, reason: string, fromDefault?: keyof SocketOptions): SockactError {
  const fields = fromDefault === undefined ? { value, reason } : { value, reason, fromDefault };
  return new SockactError('ERR_LISTEN_ADDRESS', `-l ${quote(value)}: ${reason}`, fields);
}

function parsePort(text: string, value: string): number {
  if (text === '') throw listenSpecError(value, 'the port is missing after the colon');
  if (/^0[0-9a-z]+$/i.test(text)) {
    // systemd's parse_ip_port() reads ports in base 0 (safe_atou16): 010 is 8, 0x50 is 80, 080
    // is an error. Plain decimal here, so a leading zero is refused rather than read otherwise.
    const theirs = /^0x[0-9a-f]+$/i.test(text)
      ? parseInt(text, 16)
      : /^0[0-7]+$/.test(text)
        ? parseInt(text, 8)
        : undefined;
    const reading = theirs === undefined ? 'refuses it' : `reads it as port ${theirs}`;
    throw listenSpecError(value, `port '${text}' is ambiguous (systemd ${reading}): write the port in plain decimal`);
  }
  if (!/^\d+$/.test(text)) throw listenSpecError(value, `'${text}' is not a port number`);
  const port = Number(text);
  if (port > 65535) throw listenSpecError(value, `port ${text} is out of range (0-65535)`);
  return port;
}

/**
 * systemd's `ADDRESS:PORT%dev` (socket_address_parse(), in_addr_port_ifindex_name_from_string_auto()):
 * the interface after the port. Split it off, for IP addresses only; `[v6%dev]:PORT` keeps its
 * own form.
 */
function splitDevice(text: string, value: string): { text: string; device?: string } {
  const pct = text.lastIndexOf('%');
  if (pct < 0 || pct < text.lastIndexOf(']')) return { text };
  const device = text.slice(pct + 1);
  if (device === '') throw listenSpecError(value, 'the interface after % is empty');
  return { text: text.slice(0, pct), device };
}

/** Parse the address part of a -l value (no options). */
export function parseListenAddress(text: string, value = text): ListenAddress {
  if (text === '') throw listenSpecError(value, 'the address is empty');
  if (text.startsWith('@')) {
    if (text.length === 1) throw listenSpecError(value, 'the abstract socket name after @ is empty');
    checkUnixLength(text.slice(1), value);
    return { family: 'unix', path: text };
  }
  if (text.startsWith('/') || text.startsWith('./') || text.startsWith('../')) {
    const path = resolve(text);
    if (path.includes('\0')) throw listenSpecError(value, 'the path contains a NUL byte');
    checkUnixLength(path, value);
    return { family: 'unix', path };
  }
  const split = splitDevice(text, value);
  if (split.device !== undefined) {
    const a = parseListenAddress(split.text, value);
    if (a.family === 'unix' || (a.family === 'inet6' && a.wildcard))
      throw listenSpecError(value, '%dev follows an IP address and port only');
    if (a.family === 'inet6' && a.scope !== undefined) throw listenSpecError(value, 'the interface is given twice');
    a.scope = split.device;
    return a;
  }
  if (/^\d+$/.test(text) || /^:[^:]*$/.test(text)) {
    return { family: 'inet6', address: '::', port: parsePort(text.replace(/^:/, ''), value), wildcard: true };
  }
  if (text.startsWith('[')) {
    const m = /^\[([^\]%]*)(?:%([^\]]*))?\](?::(.*))?$/.exec(text);
    if (!m) throw listenSpecError(value, "expected [IPv6]:PORT, e.g. '[::1]:8080'");
    const [, host = '', scope, port] = m;
    if (!isIPv6Text(host)) throw listenSpecError(value, `'${host}' is not an IPv6 address`);
    if (scope === '') throw listenSpecError(value, 'the interface after % is empty');
    if (port === undefined) throw listenSpecError(value, `the port is missing: '[${host}]:PORT'`);
    const a: ListenAddress = { family: 'inet6', address: host, port: parsePort(port, value) };
    if (scope !== undefined) a.scope = scope;
    return a;
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) {
    if (isIPv4Text(text)) throw listenSpecError(value, `the port is missing: '${text}:PORT'`);
    throw listenSpecError(value, 'not a PORT, IPv4:PORT, [IPv6]:PORT, /path or @name (a relative path starts with ./)');
  }
  const host = text.slice(0, colon);
  if (isIPv4Text(host)) return { family: 'inet', address: host, port: parsePort(text.slice(colon + 1), value) };
  if (isIPv6Text(host) || isIPv6Text(text)) {
    throw listenSpecError(value, `IPv6 addresses go in brackets: '[${isIPv6Text(text) ? text : host}]:PORT'`);
  }
  throw listenSpecError(value, `'${host}' is not an IP address (names are not resolved): use e.g. 127.0.0.1 or [::1]`);
}

function checkUnixLength(name: string, value: string): void {
  const bytes = Buffer.byteLength(name);
  // sun_path keeps one byte for a path's terminating NUL or an abstract name's leading NUL.
  if (bytes > UNIX_PATH_MAX - 1) {
    throw listenSpecError(value, `a UNIX socket name holds at most ${UNIX_PATH_MAX - 1} bytes, this one has ${bytes}`);
  }
}

const LISTEN_DEFAULTS: Readonly<SocketOptions> = {
  type: 'stream',
  reusePort: false,
  freebind: false,
  removeStale: false,
  removeOnExit: false,
};

type OptionKey = keyof Omit<SocketOptions, 'type'>;
type Kind = 'flag' | 'int' | 'mode' | 'text';
/** The options a -l value may carry, keyed by how they are written, and where they apply. */
const SPEC_OPTIONS: Record<
  string,
  { key: OptionKey; kind: Kind; applies: (a: ListenAddress, t: SocketType) => string | undefined }
> = {
  name: { key: 'name', kind: 'text', applies: () => undefined },
  backlog: {
    key: 'backlog',
    kind: 'int',
    applies: (_a, t) => (t === 'dgram' ? 'datagram sockets do not listen' : undefined),
  },
  'reuse-port': { key: 'reusePort', kind: 'flag', applies: (a) => inetOnly(a) },
  freebind: { key: 'freebind', kind: 'flag', applies: (a) => inetOnly(a) },
  v6only: {
    key: 'v6only',
    kind: 'flag',
    applies: (a) => (a.family === 'inet6' ? undefined : 'it applies to IPv6 addresses only'),
  },
  mode: { key: 'mode', kind: 'mode', applies: (a) => pathOnly(a) },
  user: { key: 'user', kind: 'text', applies: (a) => pathOnly(a) },
  group: { key: 'group', kind: 'text', applies: (a) => pathOnly(a) },
  'remove-stale': { key: 'removeStale', kind: 'flag', applies: (a) => pathOnly(a) },
  'remove-on-exit': { key: 'removeOnExit', kind: 'flag', applies: (a) => pathOnly(a) },
};
const ALIASES: Record<string, string> = { reuseport: 'reuse-port' };
const TYPES: readonly SocketType[] = ['stream', 'dgram', 'seqpacket'];

function inetOnly(a: ListenAddress): string | undefined {
  return a.family === 'unix' ? 'it applies to IP addresses only' : undefined;
}

function pathOnly(a: ListenAddress): string | undefined {
  if (a.family !== 'unix') return 'it applies to UNIX socket paths only';
  return a.path.startsWith('@') ? 'an abstract socket has no file' : undefined;
}

function parseFlag(text: string | undefined, value: string, key: string): boolean {
  if (text === undefined) return true;
  if (/^(yes|true|on|1)$/i.test(text)) return true;
  if (/^(no|false|off|0)$/i.test(text)) return false;
  throw listenSpecError(value, `${key}=${text}: expected yes or no`);
}

/** Parse a count such as a backlog: a plain decimal from 1 to INT_MAX, else undefined. */
export function parsePositiveInt(text: string): number | undefined {
  return /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 0x7fffffff ? Number(text) : undefined;
}

/** Parse an octal permission mode such as 0660 or 660 (SocketMode=). */
export function parseMode(text: string): number | undefined {
  return /^0?[0-7]{3}$/.test(text) ? parseInt(text, 8) : undefined;
}

function optionValue(kind: Kind, key: string, text: string | undefined, value: string): boolean | number | string {
  if (kind === 'flag') return parseFlag(text, value, key);
  if (text === undefined || text === '') {
    if (kind === 'text' && key === 'name' && text === '') return '';
    throw listenSpecError(value, `${key} needs a value: '${key}=...'`);
  }
  if (kind === 'int') {
    const n = parsePositiveInt(text);
    if (n === undefined) throw listenSpecError(value, `${key}=${text}: expected a positive whole number`);
    return n;
  }
  if (kind === 'mode') {
    const mode = parseMode(text);
    if (mode === undefined) throw listenSpecError(value, `${key}=${text}: expected an octal mode such as 0660`);
    return mode;
  }
  const problem = key === 'name' ? fdNameProblem(text) : undefined;
  if (problem) throw listenSpecError(value, `name=${text} is not a valid fd name (${problem})`);
  return text;
}

/** A word after a comma that reads as a socket option: `key` or `key=value`, key made of letters, digits and '-'. */
const OPTION_WORD = /^[A-Za-z][A-Za-z0-9-]*(=|$)/;

/**
 * Split a -l value into its address and its options. Commas separate options; `\,` is a comma
 * that belongs to the address. A UNIX path or abstract name also keeps a comma followed by a
 * word that cannot be an option (`/run/a,b.sock`, `@x,1`): options start at the first word that
 * looks like one, and from there every word must be a known option, so a misspelled option is
 * an error, never part of a file name.
 */
function splitOptions(value: string): [string, string[]] {
  const words: string[] = [''];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\' && value[i + 1] === ',') words[words.length - 1] += value[++i];
    else if (value[i] === ',') words.push('');
    else words[words.length - 1] += value[i];
  }
  let addr = words[0]!;
  let k = 1;
  if (/^(\/|\.\.?\/|@)/.test(addr)) {
    for (; k < words.length && !OPTION_WORD.test(words[k]!) && words[k] !== ''; k++) addr += `,${words[k]}`;
  }
  return [addr, words.slice(k)];
}

/**
 * Parse one -l value. `defaults` come from the global flags (-d, --backlog, --socket-mode...);
 * a default is applied only where it makes sense (a mode to UNIX paths, reuse-port to IP), while
 * an option written on the -l value itself must apply or is rejected. The socket type must fit
 * the address: seqpacket needs a UNIX socket, as in systemd-socket-activate.
 */
export function parseListen(value: string, defaults: Partial<SocketOptions> = {}): ListenSpec {
  const [addrText, parts] = splitOptions(value);
  const address = parseListenAddress(addrText, value);
  let type: SocketType | undefined;
  const given: Partial<Record<OptionKey, boolean | number | string>> = {};
  for (const part of parts) {
    if (part === '') throw listenSpecError(value, 'an empty socket option (two commas, or one at the end)');
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const key = ALIASES[rawKey] ?? rawKey;
    const text = eq < 0 ? undefined : part.slice(eq + 1);
    if ((TYPES as readonly string[]).includes(key)) {
      if (text !== undefined) throw listenSpecError(value, `${key} takes no value`);
      if (type !== undefined && type !== key) throw listenSpecError(value, `${type} and ${key} exclude each other`);
      type = key as SocketType;
      continue;
    }
    const def = SPEC_OPTIONS[key];
    if (!def) {
      const known = [...TYPES, ...Object.keys(SPEC_OPTIONS)].join(', ');
      const comma = address.family === 'unix' ? '; write \\, for a comma that belongs to the path' : '';
      throw listenSpecError(value, `unknown socket option '${rawKey}' (known: ${known})${comma}`);
    }
    if (def.key in given) throw listenSpecError(value, `${key} is given twice`);
    given[def.key] = optionValue(def.kind, key, text, value);
  }
  const spec: ListenSpec = { ...LISTEN_DEFAULTS, text: value, address, type: type ?? defaults.type ?? 'stream' };
  if (spec.type === 'seqpacket' && address.family !== 'unix') {
    throw listenSpecError(
      value,
      'seqpacket sockets need a UNIX address: /path or @name',
      type === undefined ? 'type' : undefined,
    );
  }
  for (const [written, def] of Object.entries(SPEC_OPTIONS)) {
    const why = def.applies(address, spec.type);
    const own = given[def.key];
    if (own !== undefined) {
      if (why !== undefined && !(def.kind === 'flag' && own === false)) {
        throw listenSpecError(value, `${written}: ${why}`);
      }
      (spec as unknown as Record<string, unknown>)[def.key] = own;
    } else if (defaults[def.key] !== undefined && why === undefined) {
      (spec as unknown as Record<string, unknown>)[def.key] = defaults[def.key];
    }
  }
  return spec;
}
