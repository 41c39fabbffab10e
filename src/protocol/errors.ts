/**
 * The one error type of the pure layers and the app side. Every message is one line that names
 * the thing and the value ("LISTEN_FDS is not a number: 'abc'"); the fields carry the same facts
 * for programs, and `cause` keeps the underlying error (an OS error from src/sys, say).
 */
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
  cause?: unknown;
}

export class SockactError extends Error implements SockactErrorFields {
  /** 'ERR_LISTEN_ENV', 'ERR_FD_KIND'... or an OS code ('EADDRINUSE') kept from the cause. */
  readonly code: string;
  declare variable?: string;
  declare value?: unknown;
  declare fd?: number;
  declare fdName?: string;
  declare expected?: string;
  declare actual?: string;

  constructor(code: string, message: string, fields: SockactErrorFields = {}) {
    const { cause, ...rest } = fields;
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    Object.assign(this, rest);
  }
}
SockactError.prototype.name = 'SockactError';

/** Quote a value the way every message does: 'abc', with control characters made visible. */
export function quote(value: unknown): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point.
  return `'${String(value).replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}
