import { SockactError, type SockactErrorFields } from '../protocol/errors.js';

export interface LaunchErrorFields extends SockactErrorFields {
  /** The address that could not be bound, as printed. */
  address?: string;
  /** The program that could not be started, as given. */
  program?: string;
}

/**
 * Why the launcher could not do what it was asked: a SockactError with the exit status a shell
 * user expects (POSIX shells: 127 for a command not found, 126 for one that cannot be executed;
 * 2 for a usage error; 1 for anything else).
 */
export class LaunchError extends SockactError {
  declare address?: string;
  declare program?: string;

  constructor(
    code: string,
    message: string,
    readonly exitCode = 1,
    fields: LaunchErrorFields = {},
  ) {
    super(code, message, fields);
  }
}
LaunchError.prototype.name = 'LaunchError';

/** The command line itself is wrong (exit 2). The message names the option and the value. */
export class UsageError extends LaunchError {
  constructor(message: string, fields: LaunchErrorFields = {}) {
    super('ERR_USAGE', message, 2, fields);
  }
}
UsageError.prototype.name = 'UsageError';
