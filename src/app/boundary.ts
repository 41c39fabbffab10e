import { codeOf, SockactError, type SockactErrorFields } from '../protocol/errors.js';
import { errorReason } from '../sys/errors.js';

/**
 * Turn whatever a call below the app API threw into the one error type apps see, keeping it as
 * `cause`. The codes form one namespace: ERR_* for what sockact itself checks, and the errno name
 * (EBADF, ECONNREFUSED...) when the OS refused a call, as Node's own system errors have it.
 * - a SockactError passes as it is (the seam's load errors, ERR_NATIVE: not Linux, no koffi);
 * - an OS error from the seam or from Node (numeric errno, code): that code, and its short reason;
 * - the sockaddr codec's TypeError/RangeError for an address it cannot encode: ERR_ADDRESS (or
 *   its code, ENAMETOOLONG);
 * - anything else: ERR_INTERNAL.
 */
export function toSockactError(err: unknown, context: string, fields: SockactErrorFields = {}): SockactError {
  const e = err as { code?: unknown; errno?: unknown; message?: unknown };
  if (err instanceof SockactError && err.syscall === undefined) return err;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof e?.errno === 'number' && typeof e.code === 'string') {
    return new SockactError(codeOf(e, 'ERR_INTERNAL'), `${context}: ${errorReason(err)}`, { ...fields, cause: err });
  }
  if (err instanceof TypeError || err instanceof RangeError) {
    return new SockactError(codeOf(e, 'ERR_ADDRESS'), `${context}: ${message}`, { ...fields, cause: err });
  }
  return new SockactError('ERR_INTERNAL', `${context}: ${message}`, { ...fields, cause: err });
}
