import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { SockactError } from '../protocol/errors.js';

/** POSIX shells: a command that is not found exits 127, one found but not executable 126. */
export const EXIT_NOT_FOUND = 127;
export const EXIT_NOT_EXECUTABLE = 126;

type Check = 'ok' | 'missing' | 'directory' | 'not-executable';

function check(path: string, uid: number | undefined): Check {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 'missing';
  }
  if (st.isDirectory()) return 'directory';
  if (!st.isFile()) return 'not-executable';
  if (uid === undefined) {
    try {
      accessSync(path, constants.X_OK);
      return 'ok';
    } catch {
      return 'not-executable';
    }
  }
  // For another user (--user) access() would answer for us, not them: read the bits they get.
  const bits = uid === 0 ? st.mode & 0o111 : uid === st.uid ? st.mode & 0o100 : st.mode & 0o011;
  return bits ? 'ok' : 'not-executable';
}

/**
 * Find PROGRAM the way execvp does, before anything is bound or started, so a typo fails with the
 * shell's codes and a message instead of a trampoline error: a name with a '/' is taken as a path,
 * anything else is searched on `PATH` (the child's). `uid` is the user the program will run as.
 */
export function resolveProgram(
  program: string,
  path = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  uid?: number,
): string {
  if (program === '') throw new SockactError('ENOENT', 'PROGRAM is empty', { program, exitCode: EXIT_NOT_FOUND });
  if (program.includes('/')) {
    const full = resolve(program);
    const c = check(full, uid);
    if (c === 'ok') return full;
    if (c === 'missing') {
      throw new SockactError('ENOENT', `${program}: no such file or directory`, { program, exitCode: EXIT_NOT_FOUND });
    }
    throw notExecutable(program, full, c);
  }
  let denied: { full: string; c: Check } | undefined;
  for (const dir of path.split(delimiter)) {
    const full = resolve(join(dir || '.', program));
    const c = check(full, uid);
    if (c === 'ok') return full;
    if (c !== 'missing' && c !== 'directory' && !denied) denied = { full, c };
  }
  // execvp reports EACCES when it saw a match it could not run and nothing better after it.
  if (denied) throw notExecutable(program, denied.full, denied.c);
  throw new SockactError('ENOENT', `${program}: command not found`, { program, exitCode: EXIT_NOT_FOUND });
}

function notExecutable(program: string, full: string, c: Check): SockactError {
  const why = c === 'directory' ? 'is a directory' : 'is not executable';
  return new SockactError('EACCES', `${program}: permission denied (${full} ${why})`, {
    program,
    exitCode: EXIT_NOT_EXECUTABLE,
  });
}
