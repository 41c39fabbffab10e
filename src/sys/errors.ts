import { getSystemErrorMap, getSystemErrorName } from 'node:util';
import { type ErrorCode, SockactError } from '../protocol/errors.js';

/**
 * An OS error: a SockactError shaped like Node's own system errors (`code`, `errno` as a negative
 * number, `syscall`), with a message that says what was being done: "bind 127.0.0.1:8080:
 * address already in use".
 */
export type SysError = SockactError & { errno: number; syscall: string };

/** util.getSystemErrorMap() builds a new Map of every errno on each call: built once, when first needed. */
let errorMap: Map<number, [string, string]> | undefined;

/** The short human description of a positive errno value ("address already in use"). */
export function describeErrno(errno: number): string {
  errorMap ??= getSystemErrorMap();
  const entry = errorMap.get(-errno);
  return entry ? entry[1] : `errno ${errno}`;
}

/**
 * The short reason of a failed OS call, Node's or the seam's ("address already in use"): their
 * messages repeat the syscall, code and address, which the caller's own message names better.
 * Any other error: its message.
 */
export function errorReason(cause: unknown): string {
  const errno = (cause as { errno?: unknown }).errno;
  return typeof errno === 'number' ? describeErrno(-errno) : (cause as Error).message;
}

export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `E${errno}`;
  }
}

/**
 * Build a SysError. `what` says what was being done ("bind 127.0.0.1:8080"); without it the
 * syscall name is used.
 */
export function sysError(syscall: string, errno: number, what?: string, fd?: number): SysError {
  const fields = fd === undefined ? { errno: -errno, syscall } : { errno: -errno, syscall, fd };
  return new SockactError(
    errnoName(errno) as ErrorCode,
    `${what ?? syscall}: ${describeErrno(errno)}`,
    fields,
  ) as SysError;
}
