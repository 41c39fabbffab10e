/**
 * The one error type of sockact, from every layer: the pure parsers, the OS seam, the app side,
 * the launcher, the supervisor, the CLI. Every message is one line that names the thing and the
 * value ("LISTEN_FDS is not a number: 'abc'"); the fields carry the same facts for programs, and
 * `cause` keeps the underlying error (an OS error from src/sys, say). docs/errors.md lists the
 * codes; test/protocol/errors.test.ts keeps that list and SockactErrorCode the same.
 */

/** What sockact itself checks: one code per kind of refusal (docs/errors.md). */
export type SockactErrorCode =
  | 'ERR_ACCEPT'
  | 'ERR_ADDRESS'
  | 'ERR_ADOPT'
  | 'ERR_BIND'
  | 'ERR_CONTROL'
  | 'ERR_DURATION'
  | 'ERR_FDNAMES'
  | 'ERR_FDS_LIMIT'
  | 'ERR_FDS_MESSAGE'
  | 'ERR_FDS_NAMES'
  | 'ERR_FDS_OPTIONS'
  | 'ERR_FDS_PEER_GONE'
  | 'ERR_FDS_PROTOCOL'
  | 'ERR_FDS_RECEIVE'
  | 'ERR_FDS_REFUSED'
  | 'ERR_FDS_SEND'
  | 'ERR_FDS_SOCKET'
  | 'ERR_FDS_TRUNCATED'
  | 'ERR_FD_ADOPTED'
  | 'ERR_FD_KIND'
  | 'ERR_GROUP'
  | 'ERR_HANDOFF'
  | 'ERR_INTERNAL'
  | 'ERR_LISTEN'
  | 'ERR_LISTEN_ADDRESS'
  | 'ERR_LISTEN_ENV'
  | 'ERR_LISTEN_FD'
  | 'ERR_LOG_FILE'
  | 'ERR_NATIVE'
  | 'ERR_NOTIFY_MESSAGE'
  | 'ERR_NOTIFY_SOCKET'
  | 'ERR_NOTIFY_TIMEOUT'
  | 'ERR_NO_FALLBACK'
  | 'ERR_NO_FD'
  | 'ERR_NO_SHELL'
  | 'ERR_PID_FILE'
  | 'ERR_RUNNING'
  | 'ERR_SERVER_LISTENING'
  | 'ERR_SOCKET_PATH'
  | 'ERR_TAKEOVER'
  | 'ERR_UNIT'
  | 'ERR_UPGRADE'
  | 'ERR_UPGRADE_DONE'
  | 'ERR_UPGRADE_NOT_READY'
  | 'ERR_UPGRADE_OLD_RUNNING'
  | 'ERR_UPGRADE_OPTIONS'
  | 'ERR_UPGRADE_RUNNING'
  | 'ERR_USAGE'
  | 'ERR_USER'
  | 'ERR_WATCH'
  | 'ERR_WATCHDOG_ENV';

/**
 * The errno name of an OS call the kernel refused (EADDRINUSE, ENOENT...), as Node's own system
 * errors carry it (node:os constants.errno). Also matches Node's ERR_* codes, which a wrapped Node
 * error keeps.
 */
export type SystemErrorCode = `E${Uppercase<string>}`;

export type ErrorCode = SockactErrorCode | SystemErrorCode;

export interface SockactErrorFields {
  /** Environment variable at fault (LISTEN_FDS, NOTIFY_SOCKET...). */
  variable?: string;
  /** The offending value, as given. */
  value?: unknown;
  /** The file descriptor at fault. */
  fd?: number;
  /** The fd name (LISTEN_FDNAMES / FDNAME) involved ('name' is taken by Error). */
  fdName?: string;
  expected?: string;
  actual?: string;
  /** The address that could not be bound, as printed. */
  address?: string;
  /** The program that could not be started, as given. */
  program?: string;
  /** What is wrong, without the thing it is wrong with (the message says both). */
  reason?: string;
  /** ERR_LISTEN_ADDRESS: the default (from a global flag) that does not fit the -l value. */
  fromDefault?: string;
  /** An OS error: the negative errno, as Node's system errors have it. */
  errno?: number;
  /** An OS error: the call the kernel refused (bind, sendmsg...). */
  syscall?: string;
  /**
   * The exit status a shell user expects when this ends the CLI (POSIX shells: 127 for a command
   * not found, 126 for one that cannot be executed; 2 for a usage error). Unset: 1.
   */
  exitCode?: number;
  cause?: unknown;
}

/**
 * Marks every SockactError, whichever copy of this module made it: each bundled entry point
 * ('sockact', 'sockact/protocol', 'sockact/launch') and each install of the package has its own
 * class, and Symbol.for() gives them one registry key (execa's final-error.js marks its errors
 * the same way).
 */
const BRAND: unique symbol = Symbol.for('sockact.SockactError') as never;

export class SockactError extends Error implements SockactErrorFields {
  /** 'ERR_LISTEN_ENV', 'ERR_FD_KIND'... or an OS code ('EADDRINUSE') kept from the cause. */
  readonly code: ErrorCode;
  declare variable?: string;
  declare value?: unknown;
  declare fd?: number;
  declare fdName?: string;
  declare expected?: string;
  declare actual?: string;
  declare address?: string;
  declare program?: string;
  declare reason?: string;
  declare fromDefault?: string;
  declare errno?: number;
  declare syscall?: string;
  declare exitCode?: number;

  constructor(code: ErrorCode, message: string, fields: SockactErrorFields = {}) {
    const { cause, ...rest } = fields;
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    Object.assign(this, rest);
  }

  /** `err instanceof SockactError` holds for an error from any copy of the class (see BRAND). */
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
}
Object.defineProperty(SockactError.prototype, 'name', { value: 'SockactError', writable: true, configurable: true });
Object.defineProperty(SockactError.prototype, BRAND, { value: true });

/** The command line itself is wrong: code ERR_USAGE, exit 2. The message names the option and the value. */
export function usageError(message: string, fields: SockactErrorFields = {}): SockactError {
  return new SockactError('ERR_USAGE', message, { exitCode: 2, ...fields });
}

/** The code of an error from Node or the OS seam (EADDRINUSE), or `fallback` when it has none. */
export function codeOf(err: unknown, fallback: ErrorCode): ErrorCode {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? (code as ErrorCode) : fallback;
}

/** Quote a value the way every message does: 'abc', with control characters made visible. */
export function quote(value: unknown): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point.
  return `'${String(value).replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}
