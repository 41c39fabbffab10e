import { quote, SockactError, type SockactErrorCode } from './errors.js';

const PLAIN = /^(0|[1-9][0-9]*)$/;
const NEGATIVE = /^-[0-9]+$/;
// Forms C's strtol accepts that plain decimal does not: whitespace, a sign, hex, leading zeros.
const C_NUMBER = /^\s*[+-]?(0x[0-9a-f]+|[0-9]+)\s*$/i;

/**
 * Read an integer variable the way sockact requires: plain decimal digits (a '-' is let through
 * for the caller's range check), no '+', no whitespace, no hex, no leading zero. libsystemd 252
 * reads LISTEN_FDS with base 0, so "010" means 8 there while go-systemd and listenfd read 10; no
 * launcher writes such forms, so they are rejected as ambiguous instead of guessed at (docs/protocol.md 3).
 * Throws SockactError (code `code`) naming the variable and the value.
 */
export function parseDecimal(variable: string, value: string, expected: string, code: SockactErrorCode): number {
  if (PLAIN.test(value) || NEGATIVE.test(value)) return Number(value);
  const fields = { variable, value, expected };
  if (C_NUMBER.test(value))
    throw new SockactError(code, `${variable} must be a plain decimal number: ${quote(value)}`, fields);
  throw new SockactError(code, `${variable} is not a number: ${quote(value)}`, fields);
}

/** The largest pid_t (pids are positive 32-bit ints). */
export const PID_MAX = 2 ** 31 - 1;

/** Parse a variable holding a pid (LISTEN_PID, WATCHDOG_PID): a positive plain decimal int. */
export function parsePid(variable: string, value: string, code: SockactErrorCode): number {
  const pid = parseDecimal(variable, value, 'a process id', code);
  if (pid < 1 || pid > PID_MAX) {
    throw new SockactError(code, `${variable} is not a process id: ${quote(value)}`, {
      variable,
      value,
      expected: 'a process id',
    });
  }
  return pid;
}
