/**
 * How an accept4(2) failure on a listening socket is handled (accept(2), ERRORS): errors that
 * concern one connection (it went away) or were pending network errors are skipped; a moment of
 * scarcity is waited out; anything else means the socket failed for good.
 */
export type AcceptFailure = 'transient' | 'scarce' | 'fatal';

/** accept(2): "Linux accept() passes already-pending network errors on the new socket as an error code". */
const TRANSIENT = new Set([
  'ECONNABORTED',
  'EINTR',
  'EAGAIN',
  'EPROTO',
  'EPERM',
  'ENETDOWN',
  'ENONET',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EOPNOTSUPP',
]);
const SCARCE = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/** How long to stop accepting after EMFILE/ENFILE/ENOBUFS/ENOMEM before trying again. */
export const RETRY_SCARCE_MS = 100;

export function acceptFailure(code: string | undefined): AcceptFailure {
  return code && TRANSIENT.has(code) ? 'transient' : code && SCARCE.has(code) ? 'scarce' : 'fatal';
}
