import { SockactError } from '../protocol/errors.js';
import { controlPathFor, prepareControlDir } from '../supervise/control.js';
import { checkWatchPaths } from '../supervise/watch.js';
import type { RunConfig } from './parse.js';

/**
 * What the supervisor will need and can be refused, checked before a socket is bound or a program
 * started: the control socket's directory, made now (supervise/control.ts), and the --watch paths.
 * Either failing is one line and exit 2, as a bad option is.
 */
export function preflight(c: RunConfig): void {
  const s = c.supervise;
  try {
    prepareControlDir(s.control ?? controlPathFor(s.name ?? String(process.pid)));
    checkWatchPaths(s.watch);
  } catch (err) {
    if (!(err instanceof SockactError) || err.code === 'ERR_USAGE') throw err;
    throw new SockactError(err.code, err.message, { exitCode: 2, value: err.value, cause: err });
  }
}
