import { getSystemErrorMap, getSystemErrorName } from 'node:util';

/**
 * An OS error shaped like Node's own (`code`, `errno` as a negative number, `syscall`), with
 * a message that says what was being done: "can't bind 127.0.0.1:8080: address already in use".
 */
export interface SysError extends Error {
  code: string;
  errno: number;
  syscall: string;
  fd?: number;
}

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
  const err = new Error(`${what ?? syscall}: ${describeErrno(errno)}`) as SysError;
  err.code = errnoName(errno);
  err.errno = -errno;
  err.syscall = syscall;
  if (fd !== undefined) err.fd = fd;
  return err;
}
