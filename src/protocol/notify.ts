import { quote, SockactError } from './errors.js';
import { fdNameProblem } from './fdname.js';
import { UNIX_PATH_MAX } from './sockaddr.js';

/**
 * The largest notify datagram: systemd reads into a buffer of PIPE_BUF + 1 bytes (room for a
 * trailing NUL) and drops a datagram that fills it (manager.c, manager_dispatch_notify_fd), so
 * exactly 4096 bytes is accepted and 4097 is not.
 */
export const NOTIFY_MAX_BYTES = 4096;

/** The sd_notify keys with a fixed value (docs/protocol.md 21). */
export const READY = 'READY=1';
export const RELOADING = 'RELOADING=1';
export const STOPPING = 'STOPPING=1';
export const WATCHDOG = 'WATCHDOG=1';
export const WATCHDOG_TRIGGER = 'WATCHDOG=trigger';
export const FDSTORE = 'FDSTORE=1';
export const FDSTOREREMOVE = 'FDSTOREREMOVE=1';
export const BARRIER = 'BARRIER=1';

/** KEY=VALUE pairs, in order. true/false become 1/0. */
export type NotifyFields = Readonly<Record<string, string | number | bigint | boolean>>;

const KEY = /^[A-Za-z0-9_]+$/;

function messageError(message: string, fields: ConstructorParameters<typeof SockactError>[2] = {}): SockactError {
  return new SockactError('ERR_NOTIFY_MESSAGE', message, fields);
}

/**
 * Build one notify datagram (docs/protocol.md 20): newline-separated KEY=VALUE lines, no NUL, at most
 * 4096 bytes. A string is sent as given (the raw form); fields are formatted one per line, each
 * value on one line. Throws SockactError (ERR_NOTIFY_MESSAGE) for anything a receiver would drop.
 */
export function formatNotify(state: string | NotifyFields): Buffer {
  let text: string;
  if (typeof state === 'string') {
    text = state;
  } else {
    const lines: string[] = [];
    for (const [key, raw] of Object.entries(state)) {
      if (!KEY.test(key)) throw messageError(`notify key is not a name: ${quote(key)}`, { value: key });
      const value = raw === true ? '1' : raw === false ? '0' : String(raw);
      if (/[\n\r]/.test(value)) {
        throw messageError(`notify field ${key} must be one line: ${quote(value)}`, { value });
      }
      lines.push(`${key}=${value}`);
    }
    text = lines.join('\n');
  }
  if (text === '') throw messageError('notify message is empty');
  if (text.includes('\0'))
    throw messageError(`notify message contains a NUL byte: ${quote(text.slice(0, 80))}`, { value: text });
  const data = Buffer.from(text, 'utf8');
  if (data.length > NOTIFY_MAX_BYTES) {
    throw messageError(`notify message is too long: ${data.length} bytes (at most ${NOTIFY_MAX_BYTES})`, {
      value: text,
      expected: `at most ${NOTIFY_MAX_BYTES} bytes`,
      actual: `${data.length} bytes`,
    });
  }
  return data;
}

/** Check an FDNAME for FDSTORE/FDSTOREREMOVE (docs/protocol.md 7, 21). */
export function checkFdName(name: string): void {
  const problem = fdNameProblem(name);
  if (problem) {
    throw new SockactError(
      'ERR_NOTIFY_MESSAGE',
      `FDNAME ${problem}: ${quote(name.length > 80 ? `${name.slice(0, 80)}...` : name)}`,
      {
        fdName: name,
        value: name,
        expected: "printable ASCII without ':', at most 255 characters",
      },
    );
  }
}

/**
 * Read NOTIFY_SOCKET (docs/protocol.md 19): "/path" is a socket path, "@name" an abstract name (kept
 * with its '@', the seam's notation for the leading NUL). Anything else, or a name that does not
 * fit in sun_path, is an error naming the variable and the value. vsock: addresses (newer
 * systemd, for VMs) are not supported.
 */
export function parseNotifySocket(value: string): { path: string } {
  const fields = { variable: 'NOTIFY_SOCKET', value, expected: 'an absolute path or an @abstract name' };
  if (!value.startsWith('/') && !(value.startsWith('@') && value.length > 1)) {
    const why = value.startsWith('vsock:')
      ? 'vsock addresses are not supported'
      : 'must be an absolute path or an @abstract name';
    throw new SockactError('ERR_NOTIFY_SOCKET', `NOTIFY_SOCKET ${why}: ${quote(value)}`, fields);
  }
  const bytes = Buffer.byteLength(value) - (value.startsWith('@') ? 1 : 0);
  if (bytes + 1 > UNIX_PATH_MAX) {
    throw new SockactError(
      'ERR_NOTIFY_SOCKET',
      `NOTIFY_SOCKET is too long: ${bytes} bytes (at most ${UNIX_PATH_MAX - 1}): ${quote(value)}`,
      {
        ...fields,
        actual: `${bytes} bytes`,
        expected: `at most ${UNIX_PATH_MAX - 1} bytes`,
      },
    );
  }
  return { path: value };
}

/** Split a received datagram into its KEY=VALUE lines (for receivers); lines without '=' are skipped. */
export function parseNotifyMessage(data: Buffer | string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of data.toString().split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}
