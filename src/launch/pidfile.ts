import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errorReason } from '../sys/errors.js';
import { commandLine } from '../sys/proc.js';
import { SockactError } from '../protocol/errors.js';

/**
 * Pid files as daemon(7) describes them ("write the daemon PID ... to a PID file ... to ensure
 * that the daemon cannot be started more than once"): one decimal pid and a newline, written
 * atomically (a temporary file in the same directory, then rename(2), so a reader never sees a
 * half-written file), removed on exit.
 */

/** Whether `pid` is a live process whose command line mentions sockact (not a recycled pid). */
function isRunningSockact(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive, but someone else's; only ESRCH says it is gone.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // No /proc (or hidepid=): a live process we cannot look at is taken to be the one named.
  return commandLine(pid)?.includes('sockact') ?? true;
}

/**
 * The pid of the running sockact the file names, or undefined when there is none: no file, not a
 * pid, a dead process, or a live process that is not sockact (a pid recycled since: the file is stale).
 */
export function runningPid(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SockactError('ERR_PID_FILE', `can't read --pid-file ${path}: ${errorReason(err)}`, { cause: err });
  }
  const pid = /^\s*(\d{1,10})\s*$/.exec(text)?.[1];
  if (pid === undefined) return undefined;
  const n = Number(pid);
  return n > 0 && n !== process.pid && isRunningSockact(n) ? n : undefined;
}

/** Refuse to start while `path` names a running sockact, in one line that says which. */
export function checkPidFile(path: string): void {
  const pid = runningPid(path);
  if (pid !== undefined)
    throw new SockactError('ERR_RUNNING', `sockact is already running as pid ${pid} (--pid-file ${path})`);
}

/** Write `pid` to `path` atomically, replacing a stale file; refused while it names another running sockact. */
export function writePidFile(path: string, pid = process.pid): void {
  checkPidFile(path);
  const temp = join(dirname(path), `.${basename(path)}.${pid}.tmp`);
  try {
    writeFileSync(temp, `${pid}\n`, { mode: 0o644, flag: 'w' });
    renameSync(temp, path);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // never made
    }
    throw new SockactError('ERR_PID_FILE', `can't write --pid-file ${path}: ${errorReason(err)}`, { cause: err });
  }
}

/** Remove the pid file if it still names `pid` (a later sockact may have replaced a file it found stale). */
export function removePidFile(path: string, pid = process.pid): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(pid)) unlinkSync(path);
  } catch {
    // Gone already: the goal is met.
  }
}
